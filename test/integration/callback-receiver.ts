// A callback receiver for tests: a real HTTPS (or HTTP) server with a throwaway self-signed
// certificate, which records every request and answers as the test decides.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
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

let certificate: { key: string; cert: string } | null = null;

/** A self-signed certificate for localhost, receiver.test and 127.0.0.1, made once per run. */
export function testCertificate(): { key: string; cert: string } {
  if (certificate !== null) return certificate;
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
        "subjectAltName=DNS:localhost,DNS:receiver.test,IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    certificate = {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    };
    return certificate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class CallbackReceiver {
  readonly calls: ReceivedCall[] = [];
  respond: Responder = () => ({ status: 204 });
  private waiters: Array<() => void> = [];
  private readonly hanging = new Set<IncomingMessage>();

  private constructor(
    private readonly server: Server,
    readonly tls: boolean,
    private fixedPort: number,
  ) {}

  /** Starts on `port` (0 picks a free one; a fixed one lets a test restart "the same" receiver). */
  static async start(options: { tls?: boolean; port?: number } = {}): Promise<CallbackReceiver> {
    const tls = options.tls ?? true;
    const server = tls ? createHttpsServer(testCertificate()) : createHttpServer();
    const receiver = new CallbackReceiver(server, tls, 0);
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
          receiver.hanging.add(request);
          return;
        }
        response.writeHead(answer.status, answer.headers ?? {});
        response.end(answer.body ?? "");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
    });
    receiver.fixedPort = (server.address() as AddressInfo).port;
    return receiver;
  }

  get port(): number {
    return this.fixedPort;
  }

  get ca(): string {
    return testCertificate().cert;
  }

  url(path = "/cb", host = "127.0.0.1"): string {
    return `${this.tls ? "https" : "http"}://${host}:${this.port}${path}`;
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
    for (const request of this.hanging) request.socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
