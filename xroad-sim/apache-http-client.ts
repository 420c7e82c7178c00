// What the HTTP client of X-Road 7.4.0's provider side adds to a call and does to an answer:
// Apache HttpClient 4.5.14 built with `HttpClients.custom()` (serverproxy/HttpClientCreator),
// content compression left on, so its default protocol interceptors run for REST and SOAP
// alike: RequestAcceptEncoding, RequestUserAgent, and ResponseContentEncoding.

import { promisify } from "node:util";
import zlib from "node:zlib";
import { lengthValue } from "../shared/protocol/content-length";

/** HttpClientBuilder's default, `VersionInfo.getUserAgent(...)`; the Java version is illustrative. */
export const APACHE_USER_AGENT = "Apache-HttpClient/4.5.14 (Java/11.0.22)";

/**
 * A request's flat header list with what the interceptors add when the request has no header of
 * that name: `Accept-Encoding: gzip,deflate` (RequestAcceptEncoding) and Apache's `User-Agent`
 * (RequestUserAgent). undici adds `Connection: keep-alive` itself, as RequestClientConnControl
 * adds `Connection: Keep-Alive`.
 */
export function withClientHeaders(headers: string[]): string[] {
  const names = new Set(headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()));
  const out = [...headers];
  if (!names.has("accept-encoding")) out.push("Accept-Encoding", "gzip,deflate");
  if (!names.has("user-agent")) out.push("User-Agent", APACHE_USER_AGENT);
  return out;
}

export type AnswerHeaders = Record<string, string | string[] | undefined>;

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);

/** ResponseContentEncoding's decoder registry, by lower-cased coding name. */
const DECODERS: Record<string, (body: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>> = {
  gzip: gunzip,
  "x-gzip": gunzip,
  // DeflateInputStream takes zlib-wrapped data and, when that fails, raw deflate.
  deflate: (body, opts) => inflate(body, opts).catch(() => inflateRaw(body, opts)),
};

/** The answer has no entity for Apache (HttpRequestExecutor.canResponseHaveBody). */
function withoutEntity(method: string, status: number): boolean {
  return method === "HEAD" || status < 200 || status === 204 || status === 205 || status === 304;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The answer is larger than the limit once decoded. */
export class DecodedTooLarge extends Error {}

/**
 * An answer as ResponseContentEncoding hands it on: when it has an entity of a length other than
 * 0, each coding of its first `Content-Encoding` line that the registry knows is decoded in the
 * order listed (as Apache wraps the entity), and `Content-Encoding`, `Content-Length` and
 * `Content-MD5` are removed; an unknown coding is ignored, as `ignoreUnknown` is the default.
 * Decoding stops past `maxBytes` (X-Road 7.4.0 sets no limit here; the sim keeps its own).
 */
export async function decodeContent(
  method: string,
  status: number,
  headers: AnswerHeaders,
  body: Buffer,
  maxBytes: number,
): Promise<{ headers: AnswerHeaders; body: Buffer }> {
  const coding = first(headers["content-encoding"]);
  if (coding === undefined || withoutEntity(method, status)) return { headers, body };
  // HttpEntity.getContentLength is the number parsed (Long.parseLong): `00` is 0 as `0` is.
  if (lengthValue(headers["content-length"]) === 0) return { headers, body };
  const names = coding
    .split(",")
    .map((element) => element.split(/[;=]/)[0].trim().toLowerCase())
    .filter((name) => name in DECODERS);
  if (names.length === 0) return { headers, body };
  let decoded = body;
  for (const name of names) {
    try {
      decoded = await DECODERS[name](decoded, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new DecodedTooLarge(`Service response larger than ${maxBytes} bytes once decoded`);
      }
      throw error;
    }
  }
  const kept: AnswerHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!["content-encoding", "content-length", "content-md5"].includes(name)) kept[name] = value;
  }
  return { headers: kept, body: decoded };
}
