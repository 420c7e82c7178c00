// Calls a provider's service URL as a security server does: HTTPS with the internal TLS
// certificate as client certificate, the provider's certificate verified as X-Road does (it must
// be one of the listed certificates itself: no chain, no host name), no redirects
// followed (PR-REST §4.4), the service's timeout on the whole call; failures become the
// `Server.ServerProxy.ServiceFailed.*` errors a real security server answers with.

import type { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { Agent, buildConnector, errors as undiciErrors } from "undici";
import { certificatesOf } from "../shared/config/tls-files";
import { decodeContent, DecodedTooLarge, withClientHeaders } from "./apache-http-client";
import type { CompiledService, Pem } from "./sim-options";
import { XroadError } from "./xroad-errors";

export interface ProviderAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface ProviderCall {
  method: string;
  url: string;
  /** Flat name/value list, repeated headers kept apart. */
  headers: string[];
  body: Buffer | null;
}

/** `scheme://authority` and the rest of a URL (`/` when empty), the rest left as written. */
function splitUrl(url: string): { origin: string; path: string } {
  const authority = url.indexOf("://") + 3;
  if (authority < 3) return { origin: url, path: "/" };
  let end = authority;
  while (end < url.length && !"/?#".includes(url[end])) end += 1;
  const rest = url.slice(end);
  return { origin: url.slice(0, end), path: rest.startsWith("/") ? rest : `/${rest}` };
}

const SERVICE_FAILED = "Server.ServerProxy.ServiceFailed";

/** Node's TLS verification codes: the provider's certificate was not accepted. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

/** One connection pool per registered service, with that service's TLS settings. */
export class ProviderClient {
  private readonly agents = new Map<string, Agent>();

  constructor(
    private readonly internalTls: { cert: Pem; key: Pem } | undefined,
    private readonly maxBodyBytes: number,
  ) {}

  private agentFor(service: CompiledService): Agent {
    let agent = this.agents.get(service.id);
    if (agent) return agent;
    const cert = service.tls.cert ?? this.internalTls?.cert;
    const key = service.tls.key ?? this.internalTls?.key;
    // "Verify TLS certificate" is X-Road's own check after the handshake (its
    // CustomSSLSocketFactory): the provider's certificate must be one of the subsystem's
    // "Information System TLS certificates" as it is. A CA listed there admits nothing, and
    // neither the chain, the validity nor the host name is checked.
    const connector = buildConnector({
      ...(cert && key ? { cert, key } : {}),
      rejectUnauthorized: false,
      // A resumed TLS session shows the client no peer certificate (Node keeps none with the
      // session), so the check below would refuse a listed provider on every connection after
      // the first; Java's keeps it. A full handshake each time shows it every time.
      maxCachedSessions: 0,
      timeout: Math.min(service.timeoutMs, 10_000),
    });
    const listed = certificatesOf(service.tls.ca ?? []);
    agent = new Agent({
      connect: (options, callback) =>
        connector(options, (error, socket) => {
          if (error !== null) return callback(error, null);
          const refusal =
            service.tls.verify && options.protocol === "https:"
              ? untrustedProvider(socket as TLSSocket, listed, service.id)
              : null;
          if (refusal) {
            socket.destroy();
            return callback(refusal, null);
          }
          callback(null, socket);
        }),
      // The whole call is bounded below; these only must not cut it earlier.
      headersTimeout: service.timeoutMs,
      bodyTimeout: service.timeoutMs,
    });
    this.agents.set(service.id, agent);
    return agent;
  }

  /** Forgets a service's pool, e.g. when it is registered anew with other settings. */
  async forget(serviceId: string): Promise<void> {
    const agent = this.agents.get(serviceId);
    this.agents.delete(serviceId);
    await agent?.close().catch(() => undefined);
  }

  async call(service: CompiledService, call: ProviderCall): Promise<ProviderAnswer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), service.timeoutMs);
    try {
      // The path goes as written, `.` and `..` segments too, as X-Road's Apache HttpClient
      // sends it; undici's request(url) would resolve them through WHATWG URL parsing first.
      const { origin, path } = splitUrl(call.url);
      const answer = await this.agentFor(service).request({
        origin,
        path,
        method: call.method as "GET",
        headers: withClientHeaders(call.headers),
        body: call.body && call.body.length > 0 ? call.body : null,
        signal: controller.signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of answer.body) {
        size += (chunk as Buffer).length;
        if (size > this.maxBodyBytes) {
          answer.body.destroy();
          throw new XroadError(
            `${SERVICE_FAILED}.IOError`,
            `Service response larger than ${this.maxBodyBytes} bytes`,
          );
        }
        chunks.push(chunk as Buffer);
      }
      const decoded = await decodeContent(
        call.method,
        answer.statusCode,
        answer.headers,
        Buffer.concat(chunks),
        this.maxBodyBytes,
      ).catch((error: Error) => {
        // X-Road's GZIPInputStream or Inflater fails while the body is read: an IOException.
        const message =
          error instanceof DecodedTooLarge ? error.message : `Decoding failed: ${error.message}`;
        throw new XroadError(`${SERVICE_FAILED}.IOError`, message);
      });
      return { status: answer.statusCode, ...decoded };
    } catch (error) {
      if (error instanceof XroadError) throw error;
      if (controller.signal.aborted) {
        throw new XroadError(
          `${SERVICE_FAILED}.IOError`,
          `Read timed out: the service did not answer within ${service.timeoutMs / 1000} s`,
        );
      }
      throw translate(error, service);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.destroy().catch(() => undefined)));
  }
}

/** X-Road's refusal of a provider certificate that is not listed, or null when it is. */
function untrustedProvider(
  socket: TLSSocket,
  listed: X509Certificate[],
  serviceId: string,
): Error | null {
  if (listed.length === 0) {
    const provider = serviceId.slice(0, serviceId.lastIndexOf("/"));
    return new Error(`Client '${provider}' has no IS certificates (TLS certificate check)`);
  }
  const peer = socket.getPeerX509Certificate();
  if (peer && listed.some((cert) => cert.raw.equals(peer.raw))) return null;
  return new Error("IS certificate is not trusted (TLS certificate check)");
}

/** Maps a failed call to the error X-Road's proxy reports for the same cause. */
function translate(error: unknown, service: CompiledService): XroadError {
  const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err.code ?? err.cause?.code ?? "";
  const message = err.cause?.message ?? err.message ?? String(error);
  if (TLS_CODES.test(code) || /certificate|handshake|ssl|tls/i.test(message)) {
    return new XroadError(
      `${SERVICE_FAILED}.SslAuthenticationFailed`,
      `TLS connection to ${service.url.origin} failed: ${message}`,
    );
  }
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  ) {
    return new XroadError(`${SERVICE_FAILED}.IOError`, `Read timed out: ${message}`);
  }
  return new XroadError(
    `${SERVICE_FAILED}.NetworkError`,
    `Connect to ${service.url.host} failed: ${message}${code ? ` (${code})` : ""}`,
  );
}
