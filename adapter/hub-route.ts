// The event hub (TMF688 style): `POST /hub` registers a listener for the caller's own messages,
// `DELETE /hub/<id>` removes it. Only the X-Road client that registered a listener may remove it,
// and only the way it registered it: through a security server or not (the two may share an id).
// A registration sent again (its answer lost) is answered with the listener it made, as the
// first time: the store keeps one listener per client, callback and query. A removal sent again
// by its client is answered 204 again, for a day.

import type Router from "@koa/router";
import type { Context } from "koa";
import type { Logger } from "pino";
import type { CallbackPolicy } from "../shared/delivery/callback-target";
import { SluiceError } from "../shared/protocol/errors";
import { issuedIdOf } from "../shared/protocol/message-id";
import { outageAnswer } from "../shared/runtime/outage";
import { type HubListeners, parseHubQuery } from "../shared/store/hub-listeners";
import type { Lookup } from "../shared/delivery/address-check";
import { isJsonType, mediaType, readBody } from "./body-reader";
import { checkSubmittedCallback } from "./callback-check";
import { answerError } from "./error-answer";
import { refuseWhileStoreDown } from "./store-unavailable";
import { checkServiceHeader, readClient, throughSecurityServer } from "./xroad-client";
import { arrivalOf, reachablePath } from "./status-location";

export interface HubRouteDeps {
  listeners: HubListeners;
  callbackPolicy: CallbackPolicy;
  /** Name resolution for the callback check; the system resolver unless a test sets one. */
  lookup?: Lookup;
  /** False when no callback secret is configured: events could not be signed, so no hub. */
  enabled?: boolean;
  /**
   * The status service (docs/xroad-deployment.md): the hub is also at `/rest/<statusService>/hub`,
   * where a caller reaches it through a security server.
   */
  statusService?: string;
  /** `xroad.provider`: the subsystem the status service is registered under, when set. */
  provider?: string | null;
  /** False while Redis is disconnected or silent: the hub then refuses at once, like intake. */
  storeReady?(): boolean;
}

const MAX_BODY = 16 * 1024;

/** Redis out of reach or silent: 503; any other error is a bug (500 Internal, logged). */
function unavailable(error: unknown): unknown {
  return outageAnswer(error, () => "listener store unavailable");
}

async function registration(ctx: Context): Promise<{ callback: unknown; query: unknown }> {
  if (!isJsonType(mediaType(ctx.get("Content-Type") || undefined))) {
    throw new SluiceError("InvalidContentType", "a hub registration is application/json");
  }
  const body = await readBody(ctx.req, MAX_BODY);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new SluiceError("InvalidJson", "the body is not valid UTF-8 JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SluiceError("InvalidRequest", 'the body must be {"callback": "...", "query": "..."}');
  }
  const { callback, query } = parsed as Record<string, unknown>;
  return { callback, query };
}

/** Registers `POST /hub` and `DELETE /hub/:id` (pass to createApp's extra routes). */
export function hubRoutes(deps: HubRouteDeps) {
  return (router: Router, log: Logger): void => {
    const bases = ["/hub"];
    if (deps.statusService) bases.push(`/rest/${deps.statusService}/hub`);
    for (const base of bases) registerHub(router, log, deps, base);
  };
}

function registerHub(router: Router, log: Logger, deps: HubRouteDeps, base: string): void {
  // Through the status service an X-Road-Service header, when sent, must name it, as on any
  // REST service and on the status service's own status and cancel (docs/semantics.md,
  // docs/xroad-deployment.md).
  const statusService = base === "/hub" ? null : (deps.statusService ?? null);
  const checkService = (ctx: Context): void => {
    if (statusService !== null) checkServiceHeader(ctx.req, statusService);
  };
  router.post(base, async (ctx) => {
    try {
      if (deps.enabled === false) {
        throw new SluiceError("NotFound", "the event hub is off: no callback secret is configured");
      }
      checkService(ctx);
      const client = readClient(ctx.req);
      const { callback, query } = await registration(ctx);
      const queryText = query === undefined || query === null ? "" : query;
      // "&&" filters nothing, as no query does, but would be another listener than "" is.
      if (queryText !== "" && Object.keys(parseHubQuery(queryText)).length === 0) {
        throw new SluiceError(
          "InvalidRequest",
          "query holds no key=value pair: leave it out to hear every event",
        );
      }
      refuseWhileStoreDown(deps.storeReady);
      const target = await checkSubmittedCallback(
        callback,
        deps.callbackPolicy,
        client,
        deps.lookup,
        log,
      );
      const listener = await deps.listeners
        .add(client, target.target, queryText as string, throughSecurityServer(ctx.req))
        .catch((error: unknown) => {
          throw unavailable(error);
        });
      ctx.status = 201;
      const statusService = deps.statusService ?? "";
      ctx.set(
        "Location",
        reachablePath(
          arrivalOf((name) => ctx.get(name)),
          statusService,
          statusService,
          `hub/${listener.id}`,
          `${base}/${listener.id}`,
          deps.provider ?? null,
        ),
      );
      ctx.body = { id: listener.id, callback: listener.callback, query: listener.query };
    } catch (error) {
      answerError(ctx, error, log);
    }
  });

  router.delete(`${base}/:id`, async (ctx) => {
    try {
      checkService(ctx);
      const client = readClient(ctx.req);
      const id = issuedIdOf(ctx.params.id);
      if (id !== null) refuseWhileStoreDown(deps.storeReady);
      const removed =
        id !== null &&
        (await deps.listeners
          .remove(id, client, throughSecurityServer(ctx.req))
          .catch((error: unknown) => {
            throw unavailable(error);
          }));
      if (!removed) throw new SluiceError("NotFound", "no such hub listener");
      ctx.status = 204;
    } catch (error) {
      answerError(ctx, error, log);
    }
  });
}
