// Node's own HTTP pools (http and https Agents) to one backend, for a client that sends through
// Node's http module (the soap package, by axios): BackendPool's settings, and new ones on SIGHUP.

import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import { clientCiphers } from "../../shared/config/tls-files";
import { tlsServerName } from "../../shared/protocol/tls-server-name";
import type { PoolSettings } from "./backend-pool";
import type { TranslatorBackend } from "./translator";

/** The agents a call names in its axios options, so it never uses Node's global pools. */
export interface CallAgents {
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

export class BackendAgents {
  private readonly http: http.Agent;
  private https: https.Agent;

  constructor(
    private readonly backend: TranslatorBackend,
    private readonly settings: PoolSettings,
  ) {
    this.http = new http.Agent(this.agentOptions());
    this.https = this.newHttpsAgent();
    // New certificates (SIGHUP): new connections use them; the calls in flight finish on theirs.
    backend.clientTls?.onChange(() => {
      const old = this.https;
      this.https = this.newHttpsAgent();
      retire(old);
    });
  }

  get current(): CallAgents {
    return { httpAgent: this.http, httpsAgent: this.https };
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }

  private agentOptions(): http.AgentOptions {
    return {
      keepAlive: true,
      // An idle connection is closed after keepAliveTimeoutMs, below a backend's own idle
      // timeout, so that no call is sent on one the backend is closing at that moment. Node's
      // global pools keep theirs 5 s (Node 20), as long as many servers do, and a pool without
      // `timeout` for good. A socket's timeout does not end a call in flight: the agent closes
      // only free sockets on it, and the call's deadline (call-deadline.ts) bounds the call.
      timeout: this.settings.keepAliveTimeoutMs,
      maxSockets: this.settings.connections ?? Infinity,
    };
  }

  private newHttpsAgent(): https.Agent {
    const tls = this.backend.clientTls?.current;
    return new BackendHttpsAgent({
      ...this.agentOptions(),
      ...(tls ? { ca: tls.ca, crl: tls.crl, cert: tls.cert, key: tls.key } : {}),
      ciphers: clientCiphers(tls),
    });
  }
}

/**
 * An https Agent whose connections send a host written `backend.example.` without its dot as
 * the TLS server name (tlsServerName): Node's agent takes the name from the Host header as it
 * is. The certificate is checked against the same name, which Node reads without the dot too.
 */
class BackendHttpsAgent extends https.Agent {
  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const servername = tlsServerName(options.host ?? "", options.servername);
    return super.createConnection({ ...options, servername }, callback);
  }
}

/**
 * Lets an agent go without cutting its calls: `destroy()` ends the sockets in use too, which
 * reset every call in flight to the backend at each certificate reload and spent a retry of
 * each. Its idle connections close now, and each busy one once its answer is read
 * (`keepSocketAlive` false: Node's documented hook for not keeping a freed socket).
 */
function retire(agent: http.Agent): void {
  agent.keepSocketAlive = () => false;
  for (const sockets of Object.values(agent.freeSockets)) {
    for (const socket of sockets ?? []) socket.destroy();
  }
}
