// The operator endpoints an admin port serves: routes added by method and path pattern, and the
// one that matches a request called with its query and JSON body.

import type http from "node:http";
import { answerTooLarge, isTooLarge, json, readJson } from "./admin-http";

/** How an operator request was admitted: the admin token, or the status page's session. */
export type AdminCredential = "bearer" | "session";

/** What an operator request carries besides its path: query and (for POST/DELETE) its body. */
export interface AdminRequest {
  query: URLSearchParams;
  /** Parsed JSON body; undefined when none was sent. */
  body: unknown;
  /** How it was admitted (for the operator journal; the token and session id stay unseen). */
  credential: AdminCredential;
}

export interface AdminAnswer {
  status: number;
  body: unknown;
  /** Set for non-JSON answers (the status page); `body` is then the text. */
  contentType?: string;
  headers?: Record<string, string>;
}

export type AdminHandler = (
  match: RegExpMatchArray,
  req: http.IncomingMessage,
  request: AdminRequest,
) => Promise<AdminAnswer>;

export class AdminRouteTable {
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: AdminHandler }> = [];

  add(method: string, pattern: RegExp, handler: AdminHandler): void {
    this.routes.push({ method, pattern, handler });
  }

  /**
   * Answers the request by the first route matching its method and path (a GET route's path
   * answers HEAD as well); a path no route matches is answered 404 as well.
   */
  async serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: string,
    search: string,
    credential: AdminCredential,
  ): Promise<void> {
    // Routes decode their path segments; a malformed escape is the caller's mistake, not a 500.
    if (!decodes(url)) {
      req.resume();
      return json(res, 400, {
        type: "InvalidRequest",
        message: "the path is not valid percent-encoding",
      });
    }
    for (const route of this.routes) {
      const match = url.match(route.pattern);
      if (match && answers(route.method, req.method)) {
        let body: unknown;
        try {
          body = await readJson(req);
        } catch (error) {
          if (isTooLarge(error)) return answerTooLarge(req, res);
          return json(res, 400, { type: "InvalidRequest", message: (error as Error).message });
        }
        const answer = await route.handler(match, req, {
          query: new URLSearchParams(search),
          body,
          credential,
        });
        for (const [name, value] of Object.entries(answer.headers ?? {}))
          res.setHeader(name, value);
        if (answer.contentType) {
          res.writeHead(answer.status, {
            "content-type": answer.contentType,
            "cache-control": "no-store",
          });
          res.end(String(answer.body));
          return;
        }
        return json(res, answer.status, answer.body);
      }
    }
    req.resume();
    json(res, 404, { type: "NotFound", message: "no such admin endpoint" });
  }
}

/** A GET route answers HEAD too, as GET without the body (Node leaves that out). */
function answers(routeMethod: string, method: string | undefined): boolean {
  return method === routeMethod || (method === "HEAD" && routeMethod === "GET");
}

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}
