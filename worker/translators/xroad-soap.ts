// The built-in `xroad-soap` translator (docs/consumer.md): sends the request's Body element to a
// remote X-Road SOAP service in an X-Road 4.0 envelope of Sluice's own, through the local
// security server, and accepts only an answer that echoes that header.

import type { Dispatcher } from "undici";
import { buildMultipartRelated } from "../../shared/protocol/multipart-related";
import { BackendPool, poolSettings, positiveOption } from "./backend-pool";
import { underDeadline } from "./call-deadline";
import {
  isTransient,
  readBounded,
  ResponseTooLarge,
  tooLargeAnswer,
  unreadableAnswer,
} from "./rest-json";
import {
  attachmentsOf,
  DEFAULT_MAX_RESPONSE_BYTES,
  interpretSoapAnswer,
  requestParts,
} from "./soap";
import { headerElementCount, renamedElement, soapHeaderXml } from "./soap-xml";
import {
  BackendAnswerError,
  BackendTimeoutError,
  BackendUnavailableError,
  type BackendResponse,
  type CallDeadline,
  type RequestMessage,
  type Translator,
  type TranslatorBackend,
  type TranslatorCall,
} from "./translator";
import { xroadFailure } from "./xroad-fault";
import { repeatedContentType, soapContentTypeProblem } from "./answer-content-type";
import {
  consumerOf,
  parseClientId,
  parseServiceId,
  representedPartyOf,
  xroadClientFor,
  type ServiceId,
  type XroadConsumer,
} from "./xroad-ids";
import {
  echoMismatch,
  MAX_HEADER_BYTES,
  requestEnvelope,
  type XroadSoapHeader,
} from "./xroad-soap-header";
import { transportReason } from "./transport-reason";
import { withoutTrailingSlashes } from "../../shared/protocol/trailing-slashes";
import { withoutFaultPrefix } from "../../shared/protocol/xroad-error-code";

/**
 * PR-MESS §2.5: faultcodes the security servers raise themselves (docs/consumer.md), under any
 * namespace prefix: an XML name may hold any letter, not only ASCII ones.
 */
const XROAD_FAULT = /^(?:[^\s:]+:)?(?:Client\.|Server\.ClientProxy\.|Server\.ServerProxy\.)/i;

export function createTranslator(backend: TranslatorBackend): Translator {
  return new XroadSoapTranslator(backend, consumerOf(backend));
}

class XroadSoapTranslator implements Translator {
  private readonly pool: BackendPool;
  private readonly path: string;
  private readonly service: ServiceId;
  private readonly maxResponseBytes: number;

  constructor(
    private readonly backend: TranslatorBackend,
    private readonly consumer: XroadConsumer,
  ) {
    const url = new URL(backend.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`backend ${backend.name}: the security server url must be http(s)://`);
    }
    this.service = parseServiceId(consumer.service, `backend ${backend.name}: service`);
    this.maxResponseBytes = positiveOption(backend, "maxResponseBytes", DEFAULT_MAX_RESPONSE_BYTES);
    // PR-MESS: a SOAP request is POSTed to the security server's root.
    this.path = `${withoutTrailingSlashes(url.pathname)}/`;
    this.pool = new BackendPool(backend, url.origin, poolSettings(backend));
  }

  async call(request: RequestMessage, call: TranslatorCall): Promise<BackendResponse[]> {
    const header = this.headerFor(request);
    // PR-MESS §2.3 wants the Body's element named as the remote serviceCode, which the local
    // service's code may not be.
    const body = renamedElement(requestParts(request).body, this.service.code);
    const envelope = requestEnvelope(header, body);
    const attachments = attachmentsOf(request);
    const packed = attachments
      ? buildMultipartRelated(envelope, attachments.attachments, attachments.mtom)
      : { contentType: "text/xml; charset=utf-8", body: Buffer.from(envelope, "utf8") };

    const answer = await underDeadline(call, this.backend.timeoutMs, (deadline) =>
      this.exchange(packed, request, call, deadline),
    );
    const name = this.backend.name;
    const repeated = repeatedContentType(answer.headers);
    // A transient status is judged by itself, its body unread (interpretSoapAnswer), as an answer
    // too large is; any other outcome reads the body by its type.
    if (repeated && !isTransient(answer.status)) {
      throw new BackendAnswerError(
        `the answer of ${this.consumer.service} is not usable (${repeated}); it is not taken as the answer to message ${request.id}`,
      );
    }
    // PR-MESS §2.1 / X-Road's SoapMessageDecoder: a SOAP message comes as XML or MIME; the
    // provider's security server refuses any other answer, so one that came is no X-Road answer.
    const wrongType =
      answer.status >= 200 && answer.status < 300 && answer.data.length > 0
        ? soapContentTypeProblem(answer.headers)
        : null;
    if (wrongType) {
      throw new BackendAnswerError(
        `the answer of ${this.consumer.service} is not usable (${wrongType}); it is not taken as the answer to message ${request.id}`,
      );
    }
    // A 2xx without a body would pass interpretSoapAnswer as an empty answer (a plain SOAP
    // backend may answer a one-way operation so), but it carries no X-Road header to check
    // against ours: PR-MESS §2.2 wants every answer to echo it, so it is not taken as ours.
    if (answer.status >= 200 && answer.status < 300 && answer.data.length === 0) {
      throw new BackendAnswerError(
        `the answer of ${this.consumer.service} does not echo the request's X-Road header (the answer is empty); it is not taken as the answer to message ${request.id}`,
      );
    }
    return [
      interpretSoapAnswer(
        answer,
        name,
        { maxResponseBytes: this.maxResponseBytes, rejectFaultCodes: new Set() },
        {
          fault: (code, text, response, retryAfterMs) =>
            XROAD_FAULT.test(code)
              ? xroadFailure(name, withoutFaultPrefix(code), text, response, retryAfterMs)
              : undefined,
          envelope: (xml, isFault) => {
            // X-Road reads a second Header's fields as repeated ones (SaxSoapParserImpl,
            // DuplicateHeaderField): the provider's security server never passes it on.
            const headers = headerElementCount(xml);
            if (headers > 1) {
              throw new BackendAnswerError(
                `the answer of ${this.consumer.service} is not usable (it has ${headers} SOAP Header elements, where an envelope has at most one); it is not taken as the answer to message ${request.id}`,
              );
            }
            // A Fault of a security server carries no header (PR-MESS Annex D.1), or an empty one.
            if (isFault && !hasHeaderFields(xml)) return;
            const mismatch = echoMismatch(xml, header);
            if (mismatch) {
              throw new BackendAnswerError(
                `the answer of ${this.consumer.service} does not echo the request's X-Road header (${mismatch}); it is not taken as the answer to message ${request.id}`,
              );
            }
          },
        },
      ),
    ];
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Sluice's header: its client, the remote service, the gateway id, the caller's user and issue. */
  private headerFor(request: RequestMessage): XroadSoapHeader {
    const passed = (name: string): string | undefined => {
      const value = request.xroadHeaders[name];
      return value === undefined || value === "" ? undefined : value;
    };
    return {
      client: parseClientId(xroadClientFor(this.consumer, request)),
      service: this.service,
      // The Idempotency-Key's value: through a security server a SOAP provider sees no HTTP
      // header of ours, so the X-Road id is the one key by which it can recognise a replay of
      // a message it served before the original failed.
      id: request.idempotencyKey ?? request.id,
      userId: passed("x-road-userid"),
      issue: passed("x-road-issue"),
      representedParty: representedPartyOf(request),
    };
  }

  private async exchange(
    packed: { contentType: string; body: Buffer },
    request: RequestMessage,
    call: TranslatorCall,
    deadline: CallDeadline,
  ): Promise<{ status: number; headers: Record<string, unknown>; data: Buffer }> {
    const name = this.backend.name;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await this.pool.current.request({
        path: this.path,
        method: "POST",
        headers: {
          "content-type": packed.contentType,
          soapaction: '""',
          // Without Accept-Encoding any coding will do (RFC 9110 §12.5.3): a proxy on the way
          // could compress the answer, which is read as XML here and would fail a served call.
          "accept-encoding": "identity",
          "idempotency-key": call.idempotencyKey || request.id,
          ...call.traceHeaders,
        },
        body: packed.body,
        signal: deadline.signal,
      });
    } catch (error) {
      throw this.transportFailure(error, deadline);
    }
    try {
      const data = await readBounded(answer.body, this.maxResponseBytes, answer.headers);
      return { status: answer.statusCode, headers: answer.headers, data };
    } catch (error) {
      if (error instanceof ResponseTooLarge) {
        throw tooLargeAnswer(name, this.maxResponseBytes, answer.statusCode, answer.headers);
      }
      throw this.transportFailure(error, deadline, true);
    }
  }

  private transportFailure(error: unknown, deadline: CallDeadline, inBody = false): Error {
    const name = this.backend.name;
    const unreadable = unreadableAnswer(error, name, inBody);
    if (unreadable) return unreadable;
    if (deadline.timedOut) {
      return new BackendTimeoutError(
        `backend ${name}: the security server did not answer: timed out after ${this.backend.timeoutMs} ms`,
        { cause: error },
      );
    }
    const why = deadline.signal.aborted ? "call aborted" : transportReason(error);
    return new BackendUnavailableError(
      `backend ${name}: the security server is unreachable: ${why}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Whether an answer's SOAP Header holds any field. A SOAP stack writes an empty `<Header/>`
 * into the faults it makes: read as a header, it echoed nothing, and a security server's
 * AccessDenied failed the message as someone else's answer instead of rejecting it.
 */
function hasHeaderFields(envelope: string): boolean {
  let header: string | null;
  try {
    header = soapHeaderXml(envelope, MAX_HEADER_BYTES);
  } catch {
    return true; // the echo check reports what is wrong with it
  }
  if (header === null || header.endsWith("/>")) return false;
  // After its start tag: an element (not a comment, PI or the end tag) is a field.
  return /<[^!?/]/.test(header.slice(header.indexOf(">") + 1));
}
