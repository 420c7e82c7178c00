// The built-in `rest-json` translator: forwards a request to an HTTP backend over a keep-alive
// pool and maps the backend's status onto the outcome rules of the translator interface.

import { maxHeaderSize } from "node:http";
import { errors as undiciErrors } from "undici";
import type { Dispatcher } from "undici";
import { MAX_RESPONSES, responsesProblem } from "../../shared/protocol/envelope";
import { answerProblem } from "../../shared/protocol/codec";
import { isPaddedBase64 } from "../../shared/protocol/base64";
import { jsonDepthExceeds, MAX_ANSWER_JSON_DEPTH } from "../../shared/protocol/json-depth";
import { inexactJsonNumber } from "../../shared/protocol/json-numbers";
import { clipText } from "../../shared/protocol/clip-text";
import { SluiceError } from "../../shared/protocol/errors";
import { checkedSubPath } from "../../shared/protocol/rest-path";
import {
  backendRequestHeaders,
  forwardedResponseHeaders,
  isProxyHeader,
  PROXY_OVERRIDE_REQUEST,
  withheldFromBackend,
  type HeaderNames,
} from "../../shared/protocol/forwarded-headers";
import { transportReason } from "./transport-reason";
import { httpHeaderValues } from "../../shared/protocol/header-value";
import { parseRetryAfter } from "../../shared/protocol/retry-after";
import {
  BackendRedirectError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  type BackendResponse,
  type CallDeadline,
  type RequestMessage,
  type Translator,
  type TranslatorBackend,
  type TranslatorCall,
} from "./translator";
import { BackendPool, poolSettings, positiveOption, type PoolSettings } from "./backend-pool";
import { underDeadline } from "./call-deadline";
import { repeatedContentType } from "./answer-content-type";
import { withoutTrailingSlashes } from "../../shared/protocol/trailing-slashes";

/** Default bound on a response body; a larger answer is never buffered. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** Response header by which a backend says its JSON body holds several responses. */
export const MULTIPLE_RESPONSES_HEADER = "x-multiple-responses";

interface RestJsonOptions extends PoolSettings {
  maxResponseBytes: number;
  headers: Record<string, string>;
  /** The caller's headers this backend's calls leave out (forwarded-headers.ts). */
  withheld: HeaderNames;
}

export function createTranslator(backend: TranslatorBackend): Translator {
  return new RestJsonTranslator(backend);
}

/** Exported so xroad-rest can call through a security server with the same handling. */
export class RestJsonTranslator implements Translator {
  private readonly pool: BackendPool;
  protected readonly basePath: string;
  private readonly options: RestJsonOptions;
  /**
   * Whether the backend is another organisation's provider behind X-Road (xroad-rest), whose
   * answer reaches the caller as it came (PR-REST §4.4, §4.6): a redirect is its answer, passed
   * back and never followed, and `X-Multiple-Responses`, the convention of the operator's own
   * backends, is not read from it.
   */
  protected readonly remoteProvider: boolean = false;

  /**
   * `forwardHeaders`: the proxy overrides the backend's calls keep; a subclass that chooses the
   * caller's headers itself (xroad-rest) reads `options.forwardHeaders` its own way.
   */
  constructor(
    protected readonly backend: TranslatorBackend,
    forwardHeaders: readonly string[] = forwardHeadersOf(backend),
  ) {
    const url = new URL(backend.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(
        // The scheme only: the url may hold a password or a key in its query.
        `backend ${backend.name}: url must be http:// or https://, got ${url.protocol}//`,
      );
    }
    this.options = readOptions(backend, forwardHeaders);
    this.basePath = withoutTrailingSlashes(url.pathname);
    this.pool = new BackendPool(backend, url.origin, this.options);
  }

  async call(request: RequestMessage, call: TranslatorCall): Promise<BackendResponse[]> {
    // One deadline covers connecting, the headers and the whole body.
    return await underDeadline(call, this.backend.timeoutMs, (deadline) =>
      this.exchange(request, call, deadline),
    );
  }

  private async exchange(
    request: RequestMessage,
    call: TranslatorCall,
    deadline: CallDeadline,
  ): Promise<BackendResponse[]> {
    const { signal } = deadline;
    const body = requestBody(request);
    // The caller's own headers (PR-REST §4.3), then the operator's, then what Sluice sets.
    // Added to the caller's (a new object) rather than spread into one: V8 builds spreads
    // followed by more fields on a slow path, several microseconds per call.
    const headers: Record<string, string | string[]> = Object.assign(
      this.callerHeadersOf(request),
      this.options.headers,
      // From a SOAP caller they are XML text: what HTTP cannot carry goes encoded, not refused.
      httpHeaderValues(this.xroadHeadersOf(request)),
    );
    if (request.contentType && body !== undefined) headers["content-type"] = request.contentType;
    headers["idempotency-key"] = call.idempotencyKey || request.id;
    headers["x-sluice-id"] = request.id;
    // The answer is stored and handed on as it came: a request without Accept-Encoding says any
    // coding will do (RFC 9110 §12.5.3), and a gzip answer was stored compressed. An operator's
    // own value (options.headers) stands.
    headers["accept-encoding"] ??= "identity";
    Object.assign(headers, call.traceHeaders);
    this.withholdSluiceHeaders(headers);

    const path = this.pathOf(request);
    let answer: Dispatcher.ResponseData;
    try {
      answer = await this.pool.current.request({
        path,
        method: request.method.toUpperCase() as Dispatcher.HttpMethod,
        headers,
        body,
        signal,
      });
    } catch (error) {
      throw transportFailure(error, this.backend, deadline);
    }

    const { statusCode: status } = answer;
    const retryAfterMs = parseRetryAfter(header(answer.headers, "retry-after"));
    // A 204's type is neither read nor passed on (toResponse): two lines of it guess at nothing.
    const repeated = status === 204 ? null : repeatedContentType(answer.headers);
    if (repeated) {
      abandon(answer.body);
      if (isTransient(status)) {
        // Retried whatever its body says, so its type decides nothing, and failing it at once
        // made a passing outage behind a proxy that writes two lines a dead letter. Judged by
        // its head alone (an X-Road-Error code may still decide), as an answer too large is.
        const head = toResponse(status, undefined, Buffer.alloc(0));
        this.inspect(
          answer.headers,
          head,
          retryAfterMs,
          request,
          `its body was not read: ${repeated}`,
        );
        throw new BackendUnavailableError(
          `backend ${this.backend.name} answered ${status} (its body not read: ${repeated})`,
          { retryAfterMs },
        );
      }
      // Any other outcome reads the body by its type, or passes the type on with it.
      throw this.unusableAnswer(status, repeated, request);
    }
    let bytes: Buffer;
    try {
      bytes = await readBounded(
        answer.body,
        this.options.maxResponseBytes,
        hasBody(request.method, status) ? answer.headers : {},
      );
    } catch (error) {
      if (error instanceof ResponseTooLarge) {
        // The head may decide without the body (a security server's X-Road-Error code does):
        // judged by its status alone, such an answer could be retried where it is refused.
        const head = toResponse(status, header(answer.headers, "content-type"), Buffer.alloc(0));
        this.inspect(
          answer.headers,
          head,
          retryAfterMs,
          request,
          "the error body is over maxResponseBytes and was not read",
        );
        throw tooLargeAnswer(
          this.backend.name,
          this.options.maxResponseBytes,
          status,
          answer.headers,
        );
      }
      if (!bodilessLength(error, request.method, status)) {
        throw transportFailure(error, this.backend, deadline, true);
      }
      // The answer ended with its head; the length named the resource, not anything sent.
      bytes = Buffer.alloc(0);
    }
    const response = toResponse(status, header(answer.headers, "content-type"), bytes);
    const own = forwardedResponseHeaders(answer.headers);
    if (Object.keys(own).length > 0) response.headers = own;
    this.inspect(answer.headers, response, retryAfterMs, request);

    if (status >= 200 && status < 300) {
      if (
        !this.remoteProvider &&
        header(answer.headers, MULTIPLE_RESPONSES_HEADER)?.trim().toLowerCase() === "true"
      ) {
        return splitResponses(status, bytes, this.backend.name);
      }
      return [response];
    }
    if (isTransient(status)) {
      throw new BackendUnavailableError(`backend ${this.backend.name} answered ${status}`, {
        retryAfterMs,
        response,
      });
    }
    if (status >= 400 && status < 500) {
      throw new BackendRejectedError(`backend ${this.backend.name} answered ${status}`, response);
    }
    if (status >= 300 && status < 400) {
      // 304 answers the caller's own If-None-Match or If-Modified-Since (its headers reach the
      // backend, its ETag comes back): no redirect, but the answer "unchanged".
      if (this.remoteProvider || status === 304) return [response];
      // Not followed, and retrying would meet the same answer.
      throw new BackendRedirectError(
        `backend ${this.backend.name} answered ${status} (a redirect, not followed); point the backend url at the final location`,
        status,
        header(answer.headers, "location")?.slice(0, 500) ?? null,
      );
    }
    throw new SluiceError(
      "BackendFailed",
      `backend ${this.backend.name} answered ${status}, which is not a final answer`,
      { retryCall: false },
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** The caller's own headers sent to the backend (PR-REST §4.3); a new object each call. */
  protected callerHeadersOf(request: RequestMessage): Record<string, string | string[]> {
    return backendRequestHeaders(request.headers ?? {}, this.options.withheld);
  }

  /** Removes from a call's headers those of Sluice's own that the backend is not to see (none here). */
  protected withholdSluiceHeaders(_headers: Record<string, string | string[]>): void {}

  /** The X-Road headers sent to the backend: the caller's, as they came. */
  protected xroadHeadersOf(request: RequestMessage): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.xroadHeaders)) {
      if (name.toLowerCase().startsWith("x-road-")) headers[name.toLowerCase()] = value;
    }
    return headers;
  }

  /**
   * A look at an answer before its status is judged; may throw the outcome instead. `unread`: why
   * the body is not in `response` (over maxResponseBytes, two Content-Type lines), "" when it is.
   */
  protected inspect(
    _headers: Dispatcher.ResponseData["headers"],
    _response: BackendResponse,
    _retryAfterMs: number | undefined,
    _request: RequestMessage,
    _unread = "",
  ): void {}

  /**
   * The failure for an answer that cannot be read as any answer (`why`): of the operator's own
   * backend, not retried, as calling again would meet the same; the reason is the operator's.
   */
  protected unusableAnswer(status: number, why: string, _request: RequestMessage): Error {
    return new SluiceError(
      "BackendFailed",
      `backend ${this.backend.name} answered ${status}, not usable: ${why}`,
      { retryCall: false },
    );
  }

  protected pathOf(request: RequestMessage): string {
    // The adapter refuses such paths; a message from elsewhere (a replay) is held to the same rule.
    checkedSubPath(request.path);
    let path = request.path === "" ? `/${encodeURIComponent(request.service)}` : request.path;
    if (!path.startsWith("/")) path = `/${path}`;
    return `${this.basePath}${path}${request.query ? `?${request.query}` : ""}`;
  }
}

function readOptions(
  backend: TranslatorBackend,
  forwardHeaders: readonly string[],
): RestJsonOptions {
  const o = backend.options ?? {};
  const headers: Record<string, string> = {};
  if (o.headers !== undefined) {
    if (typeof o.headers !== "object" || o.headers === null || Array.isArray(o.headers)) {
      throw new Error(
        `backend ${backend.name}: options.headers must be a map of header names to strings`,
      );
    }
    for (const [name, value] of Object.entries(o.headers)) {
      if (typeof value !== "string") {
        throw new Error(`backend ${backend.name}: options.headers.${name} must be a string`);
      }
      headers[name.toLowerCase()] = value;
    }
  }
  return {
    maxResponseBytes: positiveOption(backend, "maxResponseBytes", DEFAULT_MAX_RESPONSE_BYTES),
    ...poolSettings(backend),
    headers,
    withheld: withheldFromBackend(forwardHeaders),
  };
}

/**
 * `options.forwardHeaders`: the proxy's headers (isProxyHeader: the overrides, any X-Forwarded-*,
 * a front proxy's word on the client's identity) this backend is to get from its callers
 * (lower-cased).
 * Another name is refused: it passes anyway, or never may, and either way the list would not mean
 * what it says. So is one the backend's `options.headers` sets: the operator's value replaces the
 * caller's on every call, and the caller's is never sent.
 */
function forwardHeadersOf(backend: TranslatorBackend): string[] {
  const listed = backend.options?.forwardHeaders;
  if (listed === undefined) return [];
  if (!Array.isArray(listed) || !listed.every((name) => typeof name === "string")) {
    throw new Error(
      `backend ${backend.name}: options.forwardHeaders must be a list of header names`,
    );
  }
  const names = listed.map((name: string) => name.toLowerCase());
  const other = names.filter((name) => !isProxyHeader(name));
  if (other.length > 0) {
    throw new Error(
      `backend ${backend.name}: options.forwardHeaders names ${other.join(", ")}, not a header withheld from backends (${PROXY_OVERRIDE_REQUEST.join(", ")}, any X-Forwarded-*, a front proxy's client certificate or identity such as X-Remote-User or X-SSL-Client-Cert; docs/rest.md)`,
    );
  }
  const set = operatorHeaderNames(backend);
  const replaced = names.filter((name) => set.has(name));
  if (replaced.length > 0) {
    throw new Error(
      `backend ${backend.name}: ${replaced.map((name) => `options.forwardHeaders: ${name} is never sent to the backend (options.headers sets it, in place of the caller's)`).join("; ")}`,
    );
  }
  return names;
}

/** The names (lower-cased) `options.headers` sets; none when it is not a map (refused later). */
function operatorHeaderNames(backend: TranslatorBackend): ReadonlySet<string> {
  const headers = backend.options?.headers;
  if (headers === null || typeof headers !== "object" || Array.isArray(headers)) return new Set();
  return new Set(Object.keys(headers).map((name) => name.toLowerCase()));
}

function requestBody(request: RequestMessage): Buffer | undefined {
  if (request.body === "") return undefined;
  return Buffer.from(request.body, request.bodyEncoding === "base64" ? "base64" : "utf8");
}

/**
 * The error for an answer over maxResponseBytes, read no further. One whose status is retried
 * anyway (408, 429, 5xx: a proxy's error page, a backend in trouble) is retried as such, however
 * large: its content decides nothing. Any other (or one whose status is unknown) is an answer too
 * large to keep; calling again would meet the same, so it is not retried.
 */
export function tooLargeAnswer(
  name: string,
  maxResponseBytes: number,
  status?: number,
  headers: Dispatcher.ResponseData["headers"] = {},
): Error {
  const what = `backend ${name} answered ${status === undefined ? "" : `HTTP ${status} `}with more than ${maxResponseBytes} bytes (maxResponseBytes)`;
  if (status !== undefined && isTransient(status)) {
    return new BackendUnavailableError(what, {
      retryAfterMs: parseRetryAfter(header(headers, "retry-after")),
    });
  }
  return new SluiceError("BackendFailed", what, { retryCall: false });
}

/** Whether an HTTP status says "try again later" (408, 429, 5xx), whatever the body. */
export function isTransient(status: number): boolean {
  // 600 and up is no HTTP class: not a final answer (below), never a 5xx.
  return status === 408 || status === 429 || (status >= 500 && status < 600);
}

function header(headers: Dispatcher.ResponseData["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class ResponseTooLarge extends Error {}

/**
 * Whether an answer can carry a body (RFC 9110 §6.4.1): one to HEAD, a 204 and a 304 have none,
 * and their Content-Length names the size of the resource, not of anything sent. Read as a
 * body's, a HEAD of a resource over maxResponseBytes failed the message as too large.
 */
export function hasBody(method: string, status: number): boolean {
  return method.toUpperCase() !== "HEAD" && status !== 204 && status !== 304;
}

/**
 * Whether a read failed only because an answer without a body (a 204, a 304) gave a length:
 * undici holds the length to the bytes that follow, but such an answer ends with its head
 * (RFC 9112 §6.3), and a 304 may name the length of what it does not send (RFC 9110 §8.6).
 * Taken for a cut answer, it was called again and then failed, though the provider had answered.
 */
function bodilessLength(error: unknown, method: string, status: number): boolean {
  return (
    error instanceof undiciErrors.ResponseContentLengthMismatchError && !hasBody(method, status)
  );
}

export async function readBounded(
  body: Dispatcher.ResponseData["body"],
  limit: number,
  headers: Dispatcher.ResponseData["headers"],
): Promise<Buffer> {
  const declared = Number(header(headers, "content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    abandon(body);
    throw new ResponseTooLarge();
  }
  // Read through events, not `for await`: an async iterator per answer costs a promise and
  // microtask turns per chunk on every call, most answers being one chunk.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.destroy();
        reject(new ResponseTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    let ended = false;
    body.once("end", () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    body.once("error", reject);
    // Closed without an end or an error (destroyed quietly): the answer is incomplete. Its
    // error is made only then: every answer's body closes after its end, in the same run of
    // ticks before the call's caller resumes, and an Error's stack is not free.
    body.once("close", () => {
      if (!ended) {
        reject(Object.assign(new Error("premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
      }
    });
  });
}

/** Lets an answer's body go unread, closing its connection. */
function abandon(body: Dispatcher.ResponseData["body"]): void {
  // Destroyed unread, the body emits an abort error a few turns later; with no listener
  // (nothing else reads it) that error would end the process.
  body.once("error", () => undefined);
  body.destroy();
}

const TEXT_TYPE =
  /^(text\/[^;\s]+|application\/([\w.+-]+\+)?(json|xml)|application\/x-ndjson|application\/x-www-form-urlencoded)$/i;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Text bodies travel as UTF-8; anything else (or text in another charset) as base64, byte-exact.
 * A 204 (no content, RFC 9110 §15.3.5) and an empty body the backend named no type for have no
 * content type: the empty string, so no Content-Type reaches the caller (it was
 * `application/octet-stream`, a type for content there is none of). A type the backend named
 * for an empty body is kept (a HEAD's answer describes the GET's). A body without one is
 * `application/octet-stream`, which §8.3 lets a recipient assume.
 */
function toResponse(
  status: number,
  contentType: string | undefined,
  bytes: Buffer,
): BackendResponse {
  if (status === 204 || (contentType === undefined && bytes.length === 0)) {
    return { status, contentType: "", body: "", bodyEncoding: "utf8" };
  }
  const type = contentType ?? "application/octet-stream";
  const mediaType = type.split(";")[0].trim();
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1].toLowerCase();
  const utf8Charset =
    charset === undefined || charset === "utf-8" || charset === "utf8" || charset === "us-ascii";
  if (TEXT_TYPE.test(mediaType) && utf8Charset) {
    try {
      return { status, contentType: type, body: utf8.decode(bytes), bodyEncoding: "utf8" };
    } catch {
      // Not valid UTF-8 after all: keep the bytes.
    }
  }
  return { status, contentType: type, body: bytes.toString("base64"), bodyEncoding: "base64" };
}

/**
 * The multiple-responses convention: a 2xx answer with `X-Multiple-Responses: true` and a JSON
 * body `{"responses": [{status?, contentType?, body, bodyEncoding?}, ...]}`.
 */
function splitResponses(status: number, bytes: Buffer, backend: string): BackendResponse[] {
  const invalid = (why: string) =>
    new SluiceError("BackendFailed", `backend ${backend} sent X-Multiple-Responses but ${why}`, {
      retryCall: false,
    });
  const text = bytes.toString("utf8");
  if (jsonDepthExceeds(text, MAX_ANSWER_JSON_DEPTH)) {
    throw invalid(`the body is nested deeper than ${MAX_ANSWER_JSON_DEPTH} levels`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid("the body is not JSON");
  }
  // A document `body` is written again with JSON.stringify, which would change such a number
  // (12345678901234567890 → 12345678901234567000) in a response the backend never sent.
  const inexact = inexactJsonNumber(text);
  if (inexact !== null) {
    throw invalid(
      `its number ${clipText(inexact, 64)} is more than a double holds (send that body as a string)`,
    );
  }
  const list = (parsed as { responses?: unknown } | null)?.responses;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid('the body has no non-empty "responses" array');
  }
  if (list.length > MAX_RESPONSES) {
    throw invalid(
      `it has ${list.length} responses, more than the ${MAX_RESPONSES} a message may have`,
    );
  }
  const responses = list.map((item: unknown, i): BackendResponse => {
    const response = responseEntry(item, i, status, invalid);
    // What every answer must be (a final status, a content type that is a header value): the
    // backend's mistake, refused as such here.
    const problem = answerProblem(response, `responses[${i}]`);
    if (problem) throw invalid(problem);
    return response;
  });
  const problem = responsesProblem(responses);
  if (problem) throw invalid(problem);
  return responses;
}

/** One entry of a multiple-responses body as a response; `status` is the answer's own. */
function responseEntry(
  item: unknown,
  i: number,
  status: number,
  invalid: (why: string) => SluiceError,
): BackendResponse {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw invalid(`responses[${i}] is not an object`);
  }
  const r = item as Record<string, unknown>;
  const itemStatus = r.status ?? status;
  if (typeof itemStatus !== "number" || !Number.isInteger(itemStatus)) {
    throw invalid(`responses[${i}].status is not an HTTP status`);
  }
  if (r.contentType !== undefined && typeof r.contentType !== "string") {
    throw invalid(`responses[${i}].contentType is not a string`);
  }
  if (r.bodyEncoding === "base64") {
    // Decoded leniently, bytes other than the stored ones reached a sync caller.
    if (typeof r.body !== "string" || !isPaddedBase64(r.body)) {
      throw invalid(`responses[${i}].body must be a base64 string`);
    }
    return {
      status: itemStatus,
      contentType: r.contentType ?? "application/octet-stream",
      body: r.body,
      bodyEncoding: "base64",
    };
  }
  if (r.bodyEncoding !== undefined && r.bodyEncoding !== "utf8") {
    throw invalid(`responses[${i}].bodyEncoding must be "utf8" or "base64"`);
  }
  if (typeof r.body === "string") {
    return {
      status: itemStatus,
      contentType: r.contentType ?? "text/plain; charset=utf-8",
      body: r.body,
      bodyEncoding: "utf8",
    };
  }
  // Any other JSON value is the response document itself.
  return {
    status: itemStatus,
    contentType: r.contentType ?? "application/json",
    body: JSON.stringify(r.body ?? null),
    bodyEncoding: "utf8",
  };
}

/**
 * An answer the backend gave but that cannot be read fails the message at once, as a body over
 * `maxResponseBytes` does: the backend got the request and probably did the work, so calling
 * again would do it again and meet the same answer. Such are headers over Node's limit
 * (`maxHeaderSize`, 16 KiB by default), bytes that are not an HTTP/1.1 answer (a malformed
 * status line, header or chunk; another protocol on the port), and an interim `100 Continue`
 * or a `101` nobody asked for, which undici cannot read past (RFC 9110 §15.2 lets a server send
 * them; an old IIS does), and framing headers that contradict each other (`Content-Length` with
 * `Transfer-Encoding`, two lengths): RFC 9112 §6.3 makes that an unrecoverable error, and a
 * retry would meet the same answer. Null for any other failure: a connection refused, reset or
 * closed early is retried, a chunked body or one of declared length cut short included.
 * `inBody` says the error came while the body was read: undici reports a body of declared length
 * cut short by the connection's close with the error it gives conflicting framing in the headers.
 */
export function unreadableAnswer(
  error: unknown,
  backend: string,
  inBody = false,
): SluiceError | null {
  const why = unreadableReason(error, inBody);
  if (why === null) return null;
  return new SluiceError("BackendFailed", `backend ${backend} answered with ${why}`, {
    retryCall: false,
  });
}

function unreadableReason(error: unknown, inBody: boolean): string | null {
  // undici's errors, or Node's own HTTP client's (the soap translator's, through axios).
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof undiciErrors.HeadersOverflowError || code === "HPE_HEADER_OVERFLOW") {
    return `headers over ${maxHeaderSize} bytes, which cannot be read`;
  }
  if (error instanceof undiciErrors.ResponseContentLengthMismatchError) {
    // Before the headers were whole, no body was cut: the framing headers themselves conflict.
    if (inBody) return null;
    return "framing headers that conflict (Content-Length with Transfer-Encoding, or two lengths)";
  }
  if (error instanceof undiciErrors.SocketError) {
    // undici's words when an interim answer came that it does not read.
    if (error.message === "bad response") {
      return "an interim 100 (Continue) it was not asked for, which cannot be read past";
    }
    if (error.message === "bad upgrade") return "101 (Switching Protocols) unasked";
    return null;
  }
  // undici's parser error carries no code; its message names what is wrong.
  if (error instanceof undiciErrors.HTTPParserError) {
    // llhttp's words for a close before a chunked body's end: a body cut short, as a reset is.
    if (error.message.includes("(Invalid EOF state)")) return null;
    return `bytes that are not an HTTP/1.1 answer (${error.message.slice(0, 200)})`;
  }
  // Node's parser: a malformed answer. An early end is a reset ("socket hang up"), not one.
  if (typeof code === "string" && code.startsWith("HPE_") && code !== "HPE_INVALID_EOF_STATE") {
    return `bytes that are not an HTTP/1.1 answer (${code})`;
  }
  return null;
}

/**
 * Transport failures (refused, reset, timed out, aborted, DNS, TLS) may pass: retry them.
 * An invalid argument is a defect in the request itself: let it poison the message.
 */
function transportFailure(
  error: unknown,
  backend: TranslatorBackend,
  deadline: CallDeadline,
  inBody = false,
): unknown {
  const unreadable = unreadableAnswer(error, backend.name, inBody);
  if (unreadable) return unreadable;
  if (
    error instanceof undiciErrors.InvalidArgumentError ||
    error instanceof undiciErrors.NotSupportedError ||
    error instanceof TypeError
  ) {
    return error;
  }
  let why = transportReason(error);
  if (deadline.timedOut) {
    why = `timed out after ${backend.timeoutMs} ms`;
  } else if (deadline.signal.aborted) {
    why = "call aborted";
  }
  if (deadline.timedOut) {
    return new BackendTimeoutError(`backend ${backend.name} did not answer: ${why}`, {
      cause: error,
    });
  }
  return new BackendUnavailableError(`backend ${backend.name} unreachable: ${why}`, {
    cause: error,
  });
}
