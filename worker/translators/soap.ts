// The built-in `soap` translator: calls a SOAP legacy system through the `soap` package with the
// caller's Body element and X-Road headers as they came, and maps its answer or Fault onto outcomes.

import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isAbsolute } from "node:path";
import * as soap from "soap";
import { SluiceError } from "../../shared/protocol/errors";
import { cutText } from "../../shared/protocol/clip-text";
import { charsetOf, decodeXml } from "../../shared/protocol/xml-encoding";
import { isXmlBody, xmlBodyMarkup, xmlBodyText } from "../../shared/protocol/rest-xml-body";
import { XmlDeclarationError } from "../../shared/protocol/xml-declaration";
import type {
  AttachmentRef,
  RequestMessage,
  SoapHeaderField,
} from "../../shared/protocol/envelope";
import {
  buildMultipartRelated,
  DEFAULT_MULTIPART_LIMITS,
  parseContentType,
  parseMultipartRelated,
  type MimePart,
  type OutgoingPart,
} from "../../shared/protocol/multipart-related";
import { raceAbort } from "../../shared/runtime/race-abort";
import { underDeadline } from "./call-deadline";
import { repeatedContentType } from "./answer-content-type";
import { parseRetryAfter } from "../../shared/protocol/retry-after";
import { isTransient, tooLargeAnswer, unreadableAnswer } from "./rest-json";
import {
  childText,
  findSoapBody,
  selfContained,
  undeclaredPrefixes,
  type SoapBody,
} from "./soap-xml";
import { XmlScanError, type NamespaceScope } from "../../shared/protocol/xml-tokens";
import { XROAD_PREFIXES } from "../../shared/protocol/xroad-namespaces";
import {
  BackendRejectedError,
  BackendRedirectError,
  BackendTimeoutError,
  BackendUnavailableError,
  type BackendResponse,
  type CallDeadline,
  type Translator,
  type TranslatorBackend,
  type TranslatorCall,
} from "./translator";
import { transportReason } from "./transport-reason";
import { BackendAgents } from "./backend-agents";
import { poolSettings } from "./backend-pool";
import { withoutTrailingSlashes } from "../../shared/protocol/trailing-slashes";

/** Default bound on a backend's answer; a larger one is never buffered. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** Content type of every BackendResponse this translator produces. */
export const SOAP_RESPONSE_CONTENT_TYPE = "text/xml; charset=utf-8";

/**
 * The exchange option by which a call asks the HTTP client below the soap package to send its
 * envelope as the root of a multipart/related body with the request's attachments.
 */
const MULTIPART = "sluiceMultipart";

/** What may follow an answer's Envelope (XML 1.0's Misc, processing instructions aside). */
const AFTER_ENVELOPE = /^(?:\s|<!--(?:(?!--)[^])*-->)*$/;

export interface MultipartRequest {
  attachments: OutgoingPart[];
  mtom: boolean;
}

/**
 * The soap package's HTTP client, packing the envelope it built together with the caller's
 * attachments (SwA, or MTOM with the caller's xop:Include references intact) when asked to.
 */
class AttachmentsHttpClient extends soap.HttpClient {
  override buildRequest(
    rurl: string,
    data: unknown,
    exheaders?: Record<string, unknown>,
    exoptions: Record<string, unknown> = {},
  ): { headers: Record<string, unknown>; data: unknown } {
    const { [MULTIPART]: multipart, ...rest } = exoptions;
    const options = super.buildRequest(rurl, data, exheaders, rest) as {
      headers: Record<string, unknown>;
      data: unknown;
    };
    if (multipart === undefined || typeof data !== "string") return options;
    const { attachments, mtom } = multipart as MultipartRequest;
    const packed = buildMultipartRelated(data, attachments, mtom);
    for (const name of Object.keys(options.headers)) {
      if (/^content-(type|length)$/i.test(name)) delete options.headers[name];
    }
    options.headers["Content-Type"] = packed.contentType;
    options.data = packed.body;
    return options;
  }
}

/** SOAP 1.1 faultcodes (and SOAP 1.2 Codes) that say the request itself is at fault. */
const REJECTING_FAULTS = new Set(["Client", "Sender", "VersionMismatch", "MustUnderstand"]);

interface SoapOptions {
  /** Where the WSDL is read: an http(s) URL or an absolute file path. */
  wsdl: string;
  /** Replaces the WSDL's `soap:address`; null keeps it. */
  endpoint: string | null;
  /** serviceCode → operation name, for services whose operation is named differently. */
  operations: Record<string, string>;
  /** WSDL service and port to use when the WSDL offers several; null lets the soap package pick. */
  service: string | null;
  port: string | null;
  /** Extra HTTP headers on every call and on the WSDL fetch (e.g. Authorization). */
  headers: Record<string, string>;
  maxResponseBytes: number;
  /** Application faultcodes (local part, before any ".") that are business rejections. */
  rejectFaultCodes: Set<string>;
  /** Origins a WSDL read over HTTP may import from besides its own (`wsdlImportOrigins`). */
  importOrigins: Set<string>;
}

type SoapCallback = (error: unknown) => void;
type SoapMethod = (
  args: object,
  callback: SoapCallback,
  options: Record<string, unknown>,
  extraHeaders: Record<string, string>,
) => void;

interface ReadyClient {
  client: soap.Client;
  /** Operations of the chosen port(s) by name, with the method that calls each. */
  methods: Map<string, { call: SoapMethod; style: string }>;
}

/** What the backend's HTTP answer was, captured per call through the client's exchange id. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
}

export function createTranslator(backend: TranslatorBackend): Translator {
  return new SoapTranslator(backend);
}

class SoapTranslator implements Translator {
  private readonly options: SoapOptions;
  private client: Promise<ReadyClient> | null = null;
  /**
   * SOAP headers of calls in flight, keyed by the call's own args object. The client holds one
   * header function that looks its call up here, so concurrent calls never see each other's.
   */
  private readonly headersOf = new WeakMap<object, string>();
  /** HTTP answers by exchange id, filled by the client's `response` event before its callback. */
  private readonly answers = new Map<string, HttpAnswer | null>();
  private closed = false;
  /** The WSDL read's and the calls' connections, held as the REST translators hold theirs. */
  private readonly agents: BackendAgents;

  constructor(private readonly backend: TranslatorBackend) {
    this.options = readOptions(backend);
    this.agents = new BackendAgents(backend, poolSettings(backend));
  }

  async call(request: RequestMessage, call: TranslatorCall): Promise<BackendResponse[]> {
    if (this.closed) {
      throw new BackendUnavailableError(
        `backend ${this.backend.name}: the soap translator is closed`,
      );
    }
    return await underDeadline(call, this.backend.timeoutMs, (deadline) =>
      this.callWithin(request, call, deadline),
    );
  }

  private async callWithin(
    request: RequestMessage,
    call: TranslatorCall,
    deadline: CallDeadline,
  ): Promise<BackendResponse[]> {
    const parts = requestParts(request);
    const ready = await raceAbort(deadline.signal, this.ready(), () => {
      throw this.failure("call aborted", deadline);
    });
    const operation = this.options.operations[request.service] ?? request.service;
    const method = ready.methods.get(operation);
    if (method === undefined) {
      throw new SluiceError(
        "BackendFailed",
        `backend ${this.backend.name}: the WSDL has no operation "${operation}" for service ${request.service}; map it with options.operations`,
        { retryCall: false },
      );
    }
    if (method.style === "rpc") {
      throw new SluiceError(
        "BackendFailed",
        `backend ${this.backend.name}: operation "${operation}" is rpc style; the soap translator sends document/literal Body elements as they came`,
        { retryCall: false },
      );
    }
    const answer = await this.exchange(method.call, parts, request, call, deadline);
    return [interpretSoapAnswer(answer, this.backend.name, this.options)];
  }

  async close(): Promise<void> {
    this.closed = true;
    this.agents.close();
  }

  /**
   * Where a WSDL read over HTTP may import from: its own origin and those of
   * `wsdlImportOrigins`. An import elsewhere would send the WSDL read's headers (an
   * Authorization) to another host and let the backend's document make the worker fetch any
   * address it names (a cloud metadata service, an internal admin page); so it fails the WSDL's
   * read, naming the import. A WSDL file is the operator's own: its imports are read as written.
   */
  private importAllowed(resolved: string): string {
    const { wsdl, importOrigins } = this.options;
    if (!/^https?:/i.test(wsdl)) return resolved;
    let origin: string | null = null;
    try {
      origin = new URL(resolved).origin;
    } catch {
      // Not an absolute URL: a file path, which a WSDL read over HTTP never names.
    }
    if (origin !== null && (origin === new URL(wsdl).origin || importOrigins.has(origin))) {
      return resolved;
    }
    throw new Error(
      `the WSDL imports ${resolved.slice(0, 200)}, outside its own origin; add the origin to options.wsdlImportOrigins to allow it`,
    );
  }

  /**
   * The calls go where a WSDL read over HTTP says (`soap:address`), with `headers` (an
   * Authorization): to the WSDL's origin or the backend url's, not wherever the backend's
   * document names, for the reason its imports are held to its origin. An address elsewhere
   * (a legacy WSDL naming an internal host) fails the WSDL's use, retried as an unreadable one,
   * naming `endpoint`, which the operator sets to where calls go. A WSDL file's are as written.
   */
  private checkAddresses(client: soap.Client): void {
    const { wsdl, service: wantedService, port: wantedPort } = this.options;
    if (!/^https?:/i.test(wsdl)) return;
    const allowed = new Set([new URL(wsdl).origin, new URL(this.backend.url).origin]);
    for (const [serviceName, service] of Object.entries(client.wsdl.definitions.services)) {
      if (wantedService !== null && serviceName !== wantedService) continue;
      for (const [portName, port] of Object.entries(service.ports)) {
        if (wantedPort !== null && portName !== wantedPort) continue;
        const location = (port as { location?: unknown }).location;
        if (typeof location !== "string") continue;
        let origin: string | null = null;
        try {
          origin = new URL(location).origin;
        } catch {
          // Not a URL at all: refused below like an address elsewhere.
        }
        if (origin === null || !allowed.has(origin)) {
          // The message reaches the caller, to whom the address names the operator's network
          // (and may hold credentials): it is in the cause, which the operator's words show.
          const at = `its WSDL sends calls to ${location.slice(0, 200)}`;
          throw new BackendUnavailableError(
            `backend ${this.backend.name}: its WSDL sends calls to <url>, outside the WSDL's and the backend url's origin; set options.endpoint to where calls go`,
            { cause: new Error(at) },
          );
        }
      }
    }
  }

  /** The client, created on first use; a failed creation is forgotten so the next call retries. */
  private ready(): Promise<ReadyClient> {
    if (this.client === null) {
      const creating = this.createClient();
      this.client = creating;
      creating.catch(() => {
        if (this.client === creating) this.client = null;
      });
    }
    return this.client;
  }

  private async createClient(): Promise<ReadyClient> {
    const { wsdl, endpoint, headers } = this.options;
    let client: soap.Client;
    try {
      client = await soap.createClientAsync(wsdl, {
        httpClient: new AttachmentsHttpClient(),
        disableCache: true,
        endpoint: endpoint ?? undefined,
        wsdl_headers: headers,
        // The read of the WSDL (and its imports) is bounded like a call: one deadline for all
        // of it, as axios's `timeout` restarts with every byte and a trickling backend would
        // keep this creation, which every call awaits, pending for good; and no more bytes
        // than an answer may have.
        wsdl_options: {
          timeout: this.backend.timeoutMs,
          signal: AbortSignal.timeout(this.backend.timeoutMs),
          maxContentLength: this.options.maxResponseBytes,
          maxRedirects: 0,
          // Not through the proxy HTTP_PROXY / HTTPS_PROXY name (axios reads them unless told
          // not to; set for other egress, they would get the read's headers, an Authorization):
          // the backend is called at its url, as the undici-based translators call theirs.
          proxy: false,
          ...this.agents.current,
          overrideImportLocation: (resolved: string) => this.importAllowed(resolved),
        },
      });
    } catch (error) {
      const why = isTooLarge(error)
        ? `it is larger than maxResponseBytes (${this.options.maxResponseBytes} bytes)`
        : transportReason(error);
      throw new BackendUnavailableError(
        `backend ${this.backend.name}: could not read its WSDL: ${why}`,
        { cause: error },
      );
    }
    if (endpoint === null) {
      resolveRelativeAddresses(client, /^https?:/i.test(wsdl) ? wsdl : this.backend.url);
      this.checkAddresses(client);
    }
    client.addSoapHeader(
      (_method: unknown, _location: unknown, _action: unknown, args: unknown): string =>
        (typeof args === "object" && args !== null && this.headersOf.get(args)) || "",
    );
    client.on("response", (_body: unknown, response: unknown, eid: string) => {
      if (this.answers.has(eid)) this.answers.set(eid, httpAnswerOf(response));
    });
    return { client, methods: this.methodsOf(client) };
  }

  private methodsOf(client: soap.Client): ReadyClient["methods"] {
    const { service: wantedService, port: wantedPort } = this.options;
    const methods: ReadyClient["methods"] = new Map();
    const services = client.wsdl.definitions.services;
    const api = client as unknown as Record<string, Record<string, Record<string, SoapMethod>>>;
    for (const [serviceName, service] of Object.entries(services)) {
      if (wantedService !== null && serviceName !== wantedService) continue;
      for (const [portName, port] of Object.entries(service.ports)) {
        if (wantedPort !== null && portName !== wantedPort) continue;
        for (const [name, operation] of Object.entries(port.binding.methods)) {
          // The service/port tree of the client, so a chosen port is really the one called.
          const call = api[serviceName]?.[portName]?.[name];
          if (typeof call === "function" && !methods.has(name)) {
            methods.set(name, { call, style: operation.style ?? "document" });
          }
        }
      }
    }
    if (methods.size === 0) {
      const wanted = [wantedService, wantedPort].filter((v) => v !== null).join("/");
      throw new Error(
        `backend ${this.backend.name}: the WSDL offers no operations${wanted ? ` on ${wanted}` : ""}`,
      );
    }
    return methods;
  }

  private async exchange(
    method: SoapMethod,
    parts: RequestParts,
    request: RequestMessage,
    call: TranslatorCall,
    deadline: CallDeadline,
  ): Promise<HttpAnswer> {
    // `_xml` is the soap package's raw-XML document: it becomes the Body content verbatim.
    const args = { _xml: parts.body };
    this.headersOf.set(args, parts.headers);
    const multipart = attachmentsOf(request);
    const exchangeId = randomUUID();
    this.answers.set(exchangeId, null);
    try {
      const error = await raceAbort(
        deadline.signal,
        new Promise<unknown>((resolve) => {
          method(
            args,
            (err) => resolve(err),
            {
              exchangeId,
              signal: deadline.signal,
              // Raw bytes: decoded here by the answer's own charset, byte-exact.
              responseType: "arraybuffer",
              maxContentLength: this.options.maxResponseBytes,
              maxRedirects: 0,
              // As the WSDL's read: never through an environment's proxy (createClient).
              proxy: false,
              ...this.agents.current,
              ...(multipart ? { [MULTIPART]: multipart } : {}),
            },
            {
              ...this.options.headers,
              "Idempotency-Key": call.idempotencyKey || request.id,
              "X-Sluice-Id": request.id,
              ...call.traceHeaders,
            },
          );
        }),
        () => undefined,
      );
      const answer = this.answers.get(exchangeId) ?? null;
      if (answer !== null) return answer;
      if (isTooLarge(error)) {
        const head = answerHead(error);
        throw tooLargeAnswer(
          this.backend.name,
          this.options.maxResponseBytes,
          head?.statusCode,
          head?.headers,
        );
      }
      const unreadable = unreadableAnswer(error, this.backend.name);
      if (unreadable) throw unreadable;
      throw this.failure(transportReason(error), deadline, error);
    } finally {
      this.answers.delete(exchangeId);
      this.headersOf.delete(args);
    }
  }

  private failure(why: string, deadline: CallDeadline, cause?: unknown): BackendUnavailableError {
    if (deadline.timedOut) {
      return new BackendTimeoutError(
        `backend ${this.backend.name} did not answer: timed out after ${this.backend.timeoutMs} ms`,
        { cause },
      );
    }
    if (deadline.signal.aborted) why = "call aborted";
    return new BackendUnavailableError(`backend ${this.backend.name} unreachable: ${why}`, {
      cause,
    });
  }
}

/** Hooks by which xroad-soap reads the security server's faults and the header echo. */
export interface SoapAnswerHooks {
  /** The error for a Fault's code and text, or undefined to map it as any backend's. */
  fault?(
    code: string,
    text: string,
    response: BackendResponse,
    retryAfterMs?: number,
  ): Error | undefined;
  /** Sees every readable envelope (its text from the Envelope on) before it is judged. */
  envelope?(envelope: string, isFault: boolean): void;
}

/** The outcome of one HTTP answer; see docs/translators.md, section "soap". */
export function interpretSoapAnswer(
  answer: HttpAnswer,
  name: string,
  options: Pick<SoapOptions, "maxResponseBytes" | "rejectFaultCodes">,
  hooks: SoapAnswerHooks = {},
): BackendResponse {
  const { status } = answer;
  const bytes = toBuffer(answer.data);
  const transient = isTransient(status);
  const retryAfterMs = parseRetryAfter(headerOf(answer.headers, "retry-after"));
  // Without a body no outcome reads the type (an empty 2xx is answered in SOAP's own).
  const repeated = bytes.length === 0 ? null : repeatedContentType(answer.headers);
  if (repeated) {
    // A transient status is retried by it alone, unread, as an answer too large is: failing it
    // at once made a passing outage behind a proxy that writes two lines a dead letter.
    if (transient) {
      throw new BackendUnavailableError(
        `backend ${name} answered HTTP ${status} (its body not read: ${repeated})`,
        { retryAfterMs },
      );
    }
    // Any other outcome reads the body by its type (its charset, MIME or not): a guess.
    throw new SluiceError(
      "BackendFailed",
      `backend ${name} answered HTTP ${status}, not usable: ${repeated}`,
      { retryCall: false },
    );
  }
  const contentType = headerOf(answer.headers, "content-type");

  let text = "";
  let body: SoapBody | null = null;
  let unreadable: string | null = null;
  /** A multipart/related answer: the parts beside the envelope, and its packaging. */
  let attached: { parts: MimePart[]; mtom: boolean } | null = null;
  try {
    let xml = bytes;
    let xmlType = contentType;
    if (parseContentType(contentType ?? "").type === "multipart/related") {
      const multipart = parseMultipartRelated(bytes, contentType as string, {
        ...DEFAULT_MULTIPART_LIMITS,
        maxPartBytes: options.maxResponseBytes,
      });
      xml = multipart.root.data;
      xmlType = multipart.root.contentType;
      attached = { parts: multipart.attachments, mtom: multipart.mtom };
    }
    text = decodeXml(xml, charsetOf(xmlType), true);
    body = findSoapBody(text);
  } catch (error) {
    // SluiceError: bytes invalid in the charset, a charset nobody knows, a multipart body that
    // cannot be split.
    const expected = error instanceof XmlScanError || error instanceof SluiceError;
    if (!expected) throw error;
    unreadable = error.message;
  }

  if (status >= 300 && status < 400) {
    // Not followed, and retrying would meet the same answer.
    throw new BackendRedirectError(
      `backend ${name} answered HTTP ${status} (a redirect, not followed); point the backend url at the final location`,
      status,
      headerOf(answer.headers, "location")?.slice(0, 500) ?? null,
    );
  }
  if (body === null) {
    if (transient) {
      // Why it was unreadable too: an envelope refused as not well-formed says so in the status.
      const why = unreadable ? ` without a readable SOAP envelope (${unreadable})` : "";
      throw new BackendUnavailableError(`backend ${name} answered HTTP ${status}${why}`, {
        retryAfterMs,
      });
    }
    if (status >= 200 && status < 300 && bytes.length === 0) {
      return { status: 200, contentType: SOAP_RESPONSE_CONTENT_TYPE, body: "" };
    }
    throw new SluiceError(
      "BackendFailed",
      `backend ${name} answered HTTP ${status} without a readable SOAP envelope${unreadable ? ` (${unreadable})` : ""}`,
      { retryCall: false },
    );
  }

  // After the Envelope only white space or comments: a second envelope or stray text there was
  // taken, and the caller got the whole answer escaped as the content of its response.
  if (!AFTER_ENVELOPE.test(text.slice(body.envelopeEnd))) {
    throw new SluiceError(
      "BackendFailed",
      `backend ${name} answered with content after the SOAP Envelope`,
      { retryCall: false },
    );
  }
  // The answer's Envelope: the XML declaration goes, as the text is now UTF-8.
  const envelope = text.slice(body.envelopeStart, body.envelopeEnd);
  const unbound = undeclaredPrefixes(envelope);
  if (unbound.length > 0) {
    throw new SluiceError(
      "BackendFailed",
      `backend ${name} answered XML with undeclared namespace prefixes: ${unbound.join(", ")}`,
      { retryCall: false },
    );
  }

  const first = body.firstElement;
  const isFault =
    first !== null && first.local === "Fault" && first.namespace === body.envelopeNamespace;
  hooks.envelope?.(envelope, isFault);
  if (first !== null && isFault) {
    const response: BackendResponse = {
      status: 500,
      contentType: SOAP_RESPONSE_CONTENT_TYPE,
      body: envelope,
    };
    const code = childText(first.xml, "faultcode") ?? childText(first.xml, "Value") ?? "";
    const text = childText(first.xml, "faultstring") ?? childText(first.xml, "Text") ?? "";
    const mapped = hooks.fault?.(code, text, response, retryAfterMs);
    if (mapped !== undefined) throw mapped;
    const message = cutText(`backend ${name} answered a SOAP Fault ${code}: ${text}`, 500);
    // "SOAP-ENV:Client.Validation" → "Client": the prefix and any dotted refinement go.
    const kind = code.slice(code.indexOf(":") + 1).split(".")[0];
    if (REJECTING_FAULTS.has(kind) || options.rejectFaultCodes.has(kind)) {
      throw new BackendRejectedError(message, response);
    }
    throw new BackendUnavailableError(message, { retryAfterMs, response });
  }

  const response: BackendResponse =
    attached !== null && attached.parts.length > 0
      ? withAttachments(envelope, attached.parts, attached.mtom)
      : { status: 200, contentType: SOAP_RESPONSE_CONTENT_TYPE, body: envelope };
  if (status >= 200 && status < 300) return response;
  if (transient) {
    throw new BackendUnavailableError(`backend ${name} answered HTTP ${status}`, {
      retryAfterMs,
      response: { ...response, status },
    });
  }
  throw new SluiceError(
    "BackendFailed",
    `backend ${name} answered HTTP ${status} with a SOAP answer that is not a Fault`,
    { retryCall: false },
  );
}

/**
 * The answer's envelope (now UTF-8) packed again with the backend's attachments, each with its
 * own headers and bytes, in the packaging the backend used: the adapter unpacks it for a SOAP
 * caller, and the status document keeps it whole (base64).
 */
function withAttachments(envelope: string, parts: MimePart[], mtom: boolean): BackendResponse {
  const packed = buildMultipartRelated(
    envelope,
    parts.map((part) => ({ headers: part.headers, data: part.data })),
    mtom,
  );
  return {
    status: 200,
    contentType: packed.contentType,
    body: packed.body.toString("base64"),
    bodyEncoding: "base64",
  };
}

/** The caller's attachments to send beside the envelope, or null when it sent none. */
export function attachmentsOf(request: RequestMessage): MultipartRequest | null {
  const attachments = request.attachments ?? [];
  if (attachments.length === 0) return null;
  return {
    attachments: attachments.map((attachment: AttachmentRef, index): OutgoingPart => {
      if (attachment.data === undefined) {
        throw new SluiceError(
          "InvalidRequest",
          `attachment ${index + 1} of the request carries no content`,
          { retryCall: false },
        );
      }
      const headers = attachment.headers ?? {
        "content-type": attachment.contentType,
        ...(attachment.contentId !== undefined
          ? { "content-id": `<${attachment.contentId}>` }
          : {}),
      };
      return { headers, data: Buffer.from(attachment.data, "base64") };
    }),
    mtom: request.soap?.mtom === true,
  };
}

export interface RequestParts {
  /** The X-Road header fields in order, each carrying its namespace declarations. */
  headers: string;
  /** The Body element, carrying its namespace declarations. */
  body: string;
}

/** The request's header fields and Body element, each standing on its own as XML. */
export function requestParts(request: RequestMessage): RequestParts {
  const soapPart = request.soap;
  if (soapPart === undefined) {
    // A REST caller's XML document can be sent as the Body element; it has no X-Road headers.
    let text: string | null;
    try {
      text = isXmlBody(request.contentType) ? xmlBodyMarkup(restXmlText(request)) : null;
    } catch (error) {
      // The adapter refuses such a body at intake; one accepted before it did fails here, once.
      if (!(error instanceof XmlDeclarationError)) throw error;
      throw new SluiceError("InvalidRequest", `service ${request.service}: ${error.message}`, {
        retryCall: false,
      });
    }
    if (text === null) {
      throw new SluiceError(
        "InvalidRequest",
        `service ${request.service}: the soap translator needs a SOAP request or an XML body, got ${request.contentType ?? "no content type"}`,
        { retryCall: false },
      );
    }
    return { headers: "", body: standalone(text, new Map(), null, "the XML body") };
  }
  const scope: NamespaceScope = new Map(declarationsOf(soapPart));
  return {
    headers: soapPart.headers
      .map((field: SoapHeaderField) =>
        standalone(field.xml, scope, field.namespace || null, `header field ${field.name}`),
      )
      .join(""),
    body: standalone(soapPart.bodyXml, scope, soapPart.bodyNamespace, "the Body element"),
  };
}

/**
 * A REST caller's XML body as text. Bytes the adapter kept as they came (base64: not UTF-8, or
 * another charset) are read by the charset the caller named (xmlBodyText), as the adapter read
 * them at intake. Bytes not valid in that charset fail the message, not guessed at: the adapter
 * refuses them at intake, but a replayed message or one an older adapter took comes unchecked.
 */
function restXmlText(request: RequestMessage): string {
  if (request.bodyEncoding !== "base64") return request.body;
  try {
    return xmlBodyText(Buffer.from(request.body, "base64"), request.contentType);
  } catch (error) {
    if (!(error instanceof SluiceError)) throw error;
    throw new SluiceError(
      "InvalidRequest",
      `service ${request.service}: the XML body cannot be read in its charset (${error.message})`,
      { retryCall: false },
    );
  }
}

/** The request Envelope's declarations when the adapter sent them (`envelopeDeclarations`). */
function declarationsOf(part: NonNullable<RequestMessage["soap"]>): Array<[string, string]> {
  const declarations = (part as { envelopeDeclarations?: unknown }).envelopeDeclarations;
  if (!Array.isArray(declarations)) return [];
  return declarations.filter(
    (d): d is [string, string] =>
      Array.isArray(d) && typeof d[0] === "string" && typeof d[1] === "string",
  );
}

/**
 * `element` with the declarations it relies on. A prefix nothing declares falls back to the
 * element's own namespace (for its own prefix) or the conventional X-Road prefixes.
 */
function standalone(
  element: string,
  scope: NamespaceScope,
  ownNamespace: string | null,
  what: string,
): string {
  let result = oneElement(element, scope, what);
  if (result.unbound.length === 0) return result.xml;
  // Any XML name characters, not only ASCII ones; the name ends at white space, "/" or ">".
  const ownPrefix = /^\s*<([^\s:/>]+):/.exec(element)?.[1];
  const extra: NamespaceScope = new Map(scope);
  for (const prefix of result.unbound) {
    const uri = prefix === ownPrefix && ownNamespace ? ownNamespace : XROAD_PREFIXES.get(prefix);
    if (uri === undefined) {
      throw new SluiceError(
        "InvalidRequest",
        `${what} uses the namespace prefix "${prefix}" without a declaration`,
        { retryCall: false },
      );
    }
    extra.set(prefix, uri);
  }
  result = oneElement(element, extra, what);
  return result.xml;
}

/**
 * `selfContained`, refusing (for good: the caller's content) what is not one element. The adapter
 * refuses a REST caller's XML body of that kind at intake; a replayed message, or one an older
 * adapter took, still comes here.
 */
function oneElement(element: string, scope: NamespaceScope, what: string) {
  try {
    return selfContained(element, scope);
  } catch (error) {
    if (!(error instanceof XmlScanError)) throw error;
    throw new SluiceError("InvalidRequest", `${what} is not one XML element: ${error.message}`, {
      retryCall: false,
    });
  }
}

function readOptions(backend: TranslatorBackend): SoapOptions {
  const o = backend.options ?? {};
  const where = `backend ${backend.name}`;
  const base = withoutTrailingSlashes(backend.url);
  const problems: string[] = [];
  const text = (name: string): string | null => {
    const v = o[name];
    if (v === undefined) return null;
    if (typeof v !== "string" || v === "") {
      problems.push(`options.${name} must be a non-empty string`);
      return null;
    }
    return v;
  };
  const map = (name: string): Record<string, string> => {
    const v = o[name];
    if (v === undefined) return {};
    const ok =
      typeof v === "object" &&
      v !== null &&
      !Array.isArray(v) &&
      Object.values(v).every((x) => typeof x === "string");
    if (!ok) problems.push(`options.${name} must be a map of names to strings`);
    return ok ? { ...(v as Record<string, string>) } : {};
  };
  /** An absolute http(s) URL as is; a path ("/..." or "?...") below the backend url. */
  const below = (value: string, name: string): string => {
    if (/^https?:\/\//i.test(value)) return value;
    if (value.startsWith("/") || value.startsWith("?")) return base + value;
    problems.push(`options.${name} must be an http(s) URL or a path starting with / or ?`);
    return value;
  };

  if (!/^https?:\/\//i.test(backend.url)) problems.push(`url must be http:// or https://`);
  const wsdlFile = text("wsdlFile");
  if (wsdlFile !== null && !isAbsolute(wsdlFile)) {
    problems.push("options.wsdlFile must be an absolute path");
  }
  const wsdlPath = text("wsdl");
  const endpoint = text("endpoint");
  const maxResponseBytes = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (
    typeof maxResponseBytes !== "number" ||
    !Number.isInteger(maxResponseBytes) ||
    maxResponseBytes <= 0
  ) {
    problems.push("options.maxResponseBytes must be a positive integer");
  }
  const rejectFaultCodes = o.rejectFaultCodes ?? [];
  if (!Array.isArray(rejectFaultCodes) || !rejectFaultCodes.every((c) => typeof c === "string")) {
    problems.push("options.rejectFaultCodes must be a list of faultcode names");
  }
  const importOrigins = new Set<string>();
  const listed = o.wsdlImportOrigins ?? [];
  for (const entry of Array.isArray(listed) ? listed : [null]) {
    const origin = typeof entry === "string" ? originOf(entry) : null;
    if (origin === null) {
      problems.push("options.wsdlImportOrigins must be a list of http(s) origins");
      break;
    }
    importOrigins.add(origin);
  }
  const options: SoapOptions = {
    wsdl: wsdlFile ?? below(wsdlPath ?? "/soap?wsdl", "wsdl"),
    endpoint: endpoint === null ? null : below(endpoint, "endpoint"),
    operations: map("operations"),
    service: text("service"),
    port: text("port"),
    headers: map("headers"),
    maxResponseBytes: maxResponseBytes as number,
    rejectFaultCodes: new Set(rejectFaultCodes as string[]),
    importOrigins,
  };
  if (problems.length > 0) throw new Error(`${where} (soap): ${problems.join("; ")}`);
  return options;
}

/** `https://schemas.example.org` as its origin; null for anything more or less than an origin. */
function originOf(text: string): string | null {
  try {
    const url = new URL(text);
    const bare = !url.username && !url.password && url.pathname === "/" && !url.search && !url.hash;
    return /^https?:$/.test(url.protocol) && bare ? url.origin : null;
  } catch {
    return null;
  }
}

/**
 * A WSDL may give its soap:address relative (Sluice's own without adapter.publicUrl, legacy-sim's):
 * resolved as any reference is, against the URL the WSDL was read from (the backend's URL for a
 * WSDL file). The soap package would otherwise post to the bare path and fail every call.
 */
function resolveRelativeAddresses(client: soap.Client, base: string): void {
  let changed = false;
  for (const service of Object.values(client.wsdl.definitions.services)) {
    for (const port of Object.values(service.ports) as { location?: unknown }[]) {
      if (typeof port.location === "string" && !/^[a-z][a-z0-9+.-]*:/i.test(port.location)) {
        port.location = new URL(port.location, base).href;
        changed = true;
      }
    }
  }
  // No endpoint: each port's methods are bound again to its (now absolute) location.
  if (changed) client.setEndpoint("");
}

function headerOf(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) return typeof value[0] === "string" ? value[0] : undefined;
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
}

function httpAnswerOf(response: unknown): HttpAnswer | null {
  if (typeof response !== "object" || response === null) return null;
  const r = response as {
    status?: unknown;
    headers?: unknown;
    data?: unknown;
    request?: { res?: Pick<IncomingMessage, "headersDistinct"> };
  };
  if (typeof r.status !== "number") return null;
  let headers = (typeof r.headers === "object" && r.headers !== null ? r.headers : {}) as Record<
    string,
    unknown
  >;
  // Node keeps only the first of two Content-Type lines in `headers`, and axios reads those:
  // every one the answer gave is in the response's headersDistinct, for interpretSoapAnswer.
  const types = r.request?.res?.headersDistinct?.["content-type"];
  if (types && types.length > 1) headers = { ...headers, "content-type": types };
  return { status: r.status, headers, data: r.data };
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.alloc(0);
}

function isTooLarge(error: unknown): boolean {
  return error instanceof Error && /maxContentLength/.test(error.message);
}

/**
 * The status line and headers of the answer an HTTP error came with, when it came with one: the
 * soap package's HTTP client gives up on an answer over maxContentLength without handing it
 * over, but its request holds the answer it was reading.
 */
function answerHead(error: unknown): IncomingMessage | undefined {
  return (error as { request?: { res?: IncomingMessage } }).request?.res;
}
