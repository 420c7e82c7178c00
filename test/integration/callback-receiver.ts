// A callback receiver for tests: a real HTTPS (or HTTP) server with a throwaway self-signed
// certificate, which records every request and answers as the test decides.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";

export interface ReceivedCall {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** TLS server name the client asked for (SNI), when over TLS. */
  servername: string | null;
  /** Client port of the connection, to tell connections apart. */
  remotePort: number;
  at: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** `hang` never answers (for timeouts). */
export type Responder = (call: ReceivedCall) => Answer | "hang";

/** The names the shared test certificate is for. */
export const DEFAULT_SUBJECT_ALT_NAME = "DNS:localhost,DNS:receiver.test,IP:127.0.0.1";
const certificates = new Map<string, { key: string; cert: string }>();

/**
 * A self-signed certificate for `subjectAltName` (by default localhost, receiver.test and
 * 127.0.0.1), made once per run and name list.
 */
export function testCertificate(subjectAltName = DEFAULT_SUBJECT_ALT_NAME): {
  key: string;
  cert: string;
} {
  const made = certificates.get(subjectAltName);
  if (made !== undefined) return made;
  const dir = mkdtempSync(join(tmpdir(), "sluice-cert-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        `subjectAltName=${subjectAltName}`,
      ],
      { stdio: "ignore" },
    );
    const certificate = {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    };
    certificates.set(subjectAltName, certificate);
    return certificate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class CallbackReceiver {
  readonly calls: ReceivedCall[] = [];
  respond: Responder = () => ({ status: 204 });
  private waiters: Array<() => void> = [];
  /** Requests answered "hang", each with its response, until released or closed. */
  private readonly hanging = new Map<IncomingMessage, ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly tls: boolean,
    private fixedPort: number,
    /** The address it listens on. */
    readonly host: string,
    private readonly certificate: { key: string; cert: string },
  ) {}

  /**
   * Starts on `port` (0 picks a free one; a fixed one lets a test restart "the same" receiver)
   * of `host` (default 127.0.0.1), with a certificate for `subjectAltName` when over TLS, or
   * with `certificate` (one a test CA issued, for a receiver trusted through that CA).
   */
  static async start(
    options: {
      tls?: boolean;
      port?: number;
      host?: string;
      subjectAltName?: string;
      certificate?: { key: string; cert: string };
    } = {},
  ): Promise<CallbackReceiver> {
    const tls = options.tls ?? true;
    const host = options.host ?? "127.0.0.1";
    const certificate = options.certificate ?? testCertificate(options.subjectAltName);
    const server = tls ? createHttpsServer(certificate) : createHttpServer();
    const receiver = new CallbackReceiver(server, tls, 0, host, certificate);
    server.on("request", (request: IncomingMessage, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const call: ReceivedCall = {
          method: request.method ?? "",
          path: request.url ?? "",
          headers: request.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          servername: tls ? (request.socket as TLSSocket).servername || null : null,
          remotePort: request.socket.remotePort ?? 0,
          at: Date.now(),
        };
        receiver.calls.push(call);
        const answer = receiver.respond(call);
        receiver.notify();
        if (answer === "hang") {
          receiver.hanging.set(request, response);
          return;
        }
        response.writeHead(answer.status, answer.headers ?? {});
        response.end(answer.body ?? "");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    receiver.fixedPort = (server.address() as AddressInfo).port;
    return receiver;
  }

  get port(): number {
    return this.fixedPort;
  }

  get ca(): string {
    return this.certificate.cert;
  }

  /** A URL of this receiver; `host` defaults to its own address (an IPv6 one in brackets). */
  url(path = "/cb", host = this.host.includes(":") ? `[${this.host}]` : this.host): string {
    return `${this.tls ? "https" : "http"}://${host}:${this.port}${path}`;
  }

  /** Requests left hanging so far, still unanswered. */
  get held(): number {
    return this.hanging.size;
  }

  /** Answers every request left hanging so far with `answer` (default 204). */
  release(answer: Answer = { status: 204 }): void {
    for (const [request, response] of this.hanging) {
      this.hanging.delete(request);
      response.writeHead(answer.status, answer.headers ?? {});
      response.end(answer.body ?? "");
    }
  }

  /** Sluice's `callbacks` configuration for delivering to this receiver on loopback, retrying fast. */
  loopbackCallbacks(secret: string): Record<string, unknown> {
    return {
      allow: [this.url("/")],
      allowHttp: true,
      allowPrivate: true,
      secret,
      backoff: ["300ms", "600ms"],
    };
  }

  /** Resolves once at least `count` calls arrived; rejects after `timeoutMs`. */
  async waitForCalls(count: number, timeoutMs = 10_000): Promise<ReceivedCall[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.calls.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} calls, got ${this.calls.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.calls;
  }

  private notify() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  async close(): Promise<void> {
    for (const request of this.hanging.keys()) request.socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
