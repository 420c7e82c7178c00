// The adapter role: HTTP ingress on the service port, its reply queue for waking sync callers,
// and graceful draining (stop taking connections; waiting callers get their 202 at once).

import { startLoopStallGuard, stopLoopStallGuard } from "./loop-stall";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { safeAck } from "../shared/broker/amqp";
import { wakeUnheard } from "../shared/broker/reply-wake";
import { redisKeys } from "../shared/protocol/redis-keys";
import type { Role, Runtime } from "../shared/runtime/runtime";
import { declareAllBackends, roleTopologyOptions } from "../shared/broker/topology";
import { isConsumerDirection } from "../shared/config/config";
import { HubListeners } from "../shared/store/hub-listeners";
import { StateNotices } from "../shared/protocol/state-notice";
import { metrics } from "../shared/observability/metrics";
import { ThrottledWarning } from "../shared/observability/throttled-warning";
import {
  pinnedCertificateRefusal,
  ReloadableTls,
  revocationListCoverage,
  serverTlsOptions,
  type TlsMaterial,
} from "../shared/config/tls-files";
import { Backpressure, NO_CONSUMER_RETRY_AFTER } from "./backpressure";
import { answerClientErrors, refuseConnect } from "./client-error";
import { warnRefusedConnections } from "./refused-connections";
import {
  revocationListCheck,
  tlsRefusalReason,
  unusableListCa,
  type TlsRefusal,
} from "./tls-refusals";
import { hubRoutes } from "./hub-route";
import { Intake } from "./intake";
import { SchemaValidators, type SchemaChecks } from "./json-body";
import { createApp } from "./server";
import { deferContinue } from "../shared/protocol/expect-continue";
import { closeSilentConnections } from "../shared/protocol/silent-connections";
import { SyncWaiters } from "./sync-waiters";
import { WakeSubscriber } from "./wake-subscriber";
import { rotateTicketKeysEvery, TICKET_KEY_LIFETIME_MS, type RotationClock } from "./ticket-keys";
import { deliveryPolicy } from "../shared/delivery/listener-admission";
import { listenStartupError } from "../shared/runtime/startup-error";

export interface AdapterRole extends Role {
  port: number;
}

export interface AdapterOptions {
  /** The service port (the configuration's when not given; 0: any free port). */
  port?: number;
  /** The body schemas as the start's configuration check compiled them, so none is compiled twice. */
  bodySchemas?: SchemaChecks;
  /** The clock the TLS ticket keys rotate on (Node's timers when not given; tests give theirs). */
  ticketKeyClock?: RotationClock;
}

export async function startAdapter(
  runtime: Runtime,
  { port = runtime.config.adapter.port, bodySchemas, ticketKeyClock }: AdapterOptions = {},
): Promise<AdapterRole> {
  const { config, broker, names, store, log: rootLog } = runtime;
  const log: Logger = rootLog.child({ component: "adapter" });
  // Read first: a bad certificate or key stops the start, naming the file, before the broker
  // holds queues declared for a configuration that never ran.
  const tls = config.adapter.tls ? new ReloadableTls(config.adapter.tls, "adapter.tls") : null;
  let topologyReady = false;
  const publisher = broker.channel(
    "adapter.publisher",
    async (channel) => {
      await declareAllBackends(channel, config, names, roleTopologyOptions(broker, log));
      topologyReady = true;
    },
    config.adapter.publishTimeoutMs,
  );
  await publisher.waitForConnect();

  const waiters = new SyncWaiters(config.adapter.maxSyncWaiters);
  // Wakes come over Redis pub/sub; the reply queue takes those of a response worker of an
  // earlier release, and those no subscription heard. Either way a wake is transient: a lost
  // one is found by reading the records when its path is back, or at the caller's deadline.
  const wakes = await WakeSubscriber.start({
    redis: runtime.redis,
    channel: redisKeys(config.prefix).wake(config.instanceId),
    connectionName: `sluice-${config.instanceId}-wakes`,
    waiters,
    store,
    log,
  });
  const replyQueue = names.replyQueue(config.instanceId);
  let repliesSetUp = false;
  const replies = broker.channel("replies", async (channel) => {
    await channel.assertQueue(replyQueue, {
      exclusive: true,
      durable: false,
      arguments: { "x-expires": 60_000 },
    });
    await channel.bindQueue(replyQueue, names.repliesExchange, config.instanceId);
    await channel.consume(
      replyQueue,
      (message) => {
        if (!message) return;
        safeAck(channel, message);
        wakes.deliver(message.content);
      },
      { noAck: false },
    );
    // Set up again after a reconnect: the exclusive queue was gone meanwhile.
    if (repliesSetUp) void wakes.recheck();
    repliesSetUp = true;
  });
  await replies.waitForConnect();
  await runtime.monitor.refresh();
  // Declared by this process, and every queue found by the monitor's latest passive declares.
  runtime.admin.addCheck("topology", () =>
    topologyReady ? runtime.monitor.topologyProblem() : "not declared",
  );

  // Not "ready" alone: while Redis is silent, submissions, status reads, cancels and the hub
  // are refused at once, not after a command's timeout; while it refuses writes, submissions
  // (a status read still works, and a cancel or a registration meets the refusal itself).
  const storeReady = (): boolean => runtime.redisProblem() === null;
  const storeReadable = (): boolean => runtime.redisUnreachable() === null;
  const backpressure = new Backpressure(broker, runtime.monitor, names, { storeReady, log });
  const intake = new Intake({
    broker,
    publisher,
    store,
    waiters,
    backpressure,
    names,
    backends: config.backends,
    instanceId: config.instanceId,
    maxMessageBytes: config.amqpMaxMessageBytes,
    publishTimeoutMs: config.adapter.publishTimeoutMs,
    log,
  });
  // Without a secret nothing is signed, so no callback or event is ever sent.
  const signing = config.callbacks.secrets.length > 0;
  // What the response workers deliver to, and whether they sign (and so send) at all.
  const callbackPolicy = { ...deliveryPolicy(config), signing };
  const hub = hubRoutes({
    listeners: new HubListeners(runtime.redis, config.prefix),
    callbackPolicy,
    enabled: signing,
    statusService: config.xroad.statusService,
    provider: config.xroad.provider,
    storeReady: storeReadable,
  });
  const app = createApp(
    {
      config,
      intake,
      store,
      validators: new SchemaValidators(Object.values(config.services), bodySchemas),
      callbackPolicy,
      log,
      pollAfter: (tx) => {
        // A backend renamed or removed since the message was accepted has no queue to estimate
        // from; reading its message's status failed with 500 Internal.
        const backend = config.backends[tx.backend];
        return backend ? backpressure.retryAfter(backend) : NO_CONSUMER_RETRY_AFTER;
      },
      ...(Object.values(config.services).some((service) => service.client !== null)
        ? { defaultClient: (code: string) => config.services[code]?.client ?? null }
        : {}),
      consumerDirection: (tx) => isConsumerDirection(config, tx),
      notices: new StateNotices(broker, publisher, names, log),
      wakeUnheard: (unreached, wake, id) =>
        wakeUnheard({ broker, publisher, names, log }, unreached, wake, id),
      storeReady: storeReadable,
      draining: () => backpressure.isDraining(),
    },
    [hub],
  );
  // Slow senders are checked every second, not Node's default 30 s, so a deadline holds.
  const limits = config.adapter;
  startLoopStallGuard(limits.maxLoopStallMs);
  const serverOptions = {
    // Checked by the routes' frame (server.ts), which also refuses two Host headers, with the
    // contract's error document where Node's answer was an empty 400.
    requireHostHeader: false,
    connectionsCheckingInterval: Math.max(
      250,
      Math.min(1_000, limits.headersTimeoutMs || 1_000, limits.requestTimeoutMs || 1_000),
    ),
    // A TLS handshake never finished is a connection that sent no request: the same bound
    // (Node's own default is 120 s, each such connection holding an adapter.maxConnections slot).
    ...(limits.headersTimeoutMs > 0 ? { handshakeTimeout: limits.headersTimeoutMs } : {}),
  };
  const server = tls
    ? https.createServer({ ...serverOptions, ...serviceTlsOptions(tls.current) }, app.callback())
    : http.createServer(serverOptions, app.callback());
  // A refused handshake (no client certificate, another CA's, an expired one) is someone other
  // than the security server knocking, or the security server refusing this certificate:
  // counted by reason, and a warning, one line per reason per 10 s at most with the count and
  // the latest address, so a flood of them does not become a flood of lines.
  const handshakeWarning = new ThrottledWarning<TlsRefusal>(log, "TLS handshakes refused");
  let stopTicketKeyRotation = (): void => undefined;
  if (tls && server instanceof https.Server) {
    // New handshakes use the new certificates; open connections (a sync caller) are kept.
    tls.onChange((material) => server.setSecureContext(serviceTlsOptions(material)));
    stopTicketKeyRotation = rotateTicketKeysEvery(server, TICKET_KEY_LIFETIME_MS, ticketKeyClock);
    // A certificate refused after the handshake has closed the socket by the time of the
    // event, and a closed socket no longer knows its peer: read it (Node keeps it) on arrival.
    server.prependListener("connection", (raw: Socket) => void raw.remoteAddress);
    server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
      const reason = tlsRefusalReason(error, socket);
      metrics.tlsRefusals.inc({ reason });
      const raw = (socket as TLSSocket & { _parent?: Socket | null })._parent;
      const code = socket.authorizationError ?? (error as { code?: string }).code ?? null;
      handshakeWarning.note(reason, {
        remote: socket.remoteAddress ?? raw?.remoteAddress ?? null,
        // The certificate check's verdict where there is one: the error only says "hang up".
        code,
        ...(reason === "revocation_list_unusable"
          ? {
              // Which CA's list, as the lists read at start or SIGHUP tell (null when not).
              ca: unusableListCa(
                typeof code === "string" ? code : null,
                revocationListCoverage(tls.current),
              ),
              check: revocationListCheck(config.adapter.tls?.crl ?? []),
            }
          : {}),
      });
    });
    // Pinned certificates (`clientCerts`): the handshake admitted any certificate the trusted
    // CAs issued; one that is not pinned is closed before HTTP reads a byte of it (prepended,
    // ahead of the HTTP server's own listener).
    server.prependListener("secureConnection", (socket: TLSSocket) => {
      const reason = pinnedCertificateRefusal(tls.current, socket.getPeerX509Certificate());
      if (!reason) return;
      metrics.tlsRefusals.inc({ reason });
      handshakeWarning.note(reason, { remote: socket.remoteAddress ?? null, code: null });
      socket.destroy();
    });
  }
  const stopParserWarning = answerClientErrors(server, log);
  refuseConnect(server);
  deferContinue(server, { routeUnmet: true });
  // Bounded waits everywhere: headers, the whole request as it is sent (a slow body ends in
  // 408; waiting for a sync answer is not counted), idle sockets; and bounded connections.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = limits.maxConnections;
  if (limits.headersTimeoutMs > 0) {
    closeSilentConnections(
      server,
      limits.headersTimeoutMs,
      tls ? "secureConnection" : "connection",
    );
  }
  // One more than accepted: a request that fills it had more, and gets 431 (createApp), where
  // Node would silently drop the rest (an X-Road-Service as header 201 would escape its checks).
  server.maxHeadersCount = limits.maxHeaders + 1;
  // Connections over the cap are closed unanswered and unlogged: warned of, one line per 10 s
  // at most, so a connection flood does not become a log flood.
  const stopRefusalWarning = warnRefusedConnections(server, log, limits.maxConnections);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(listenStartupError(error, "adapter.host", config.adapter.host)),
    );
    server.listen(port, config.adapter.host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  log.info({ port: actualPort }, "adapter listening");

  return {
    name: "adapter",
    port: actualPort,
    async drain(deadline) {
      // Requests still arriving on open connections get 503 instead of a new wait.
      backpressure.stopIntake();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      waiters.releaseAll();
      // A keep-alive connection goes as soon as its last answer is sent, not after its idle
      // timeout: the drain (and the grace time after it) must not wait for idle clients.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      // Connections still busy at the deadline are cut by close().
      await deadline.within(closed);
      clearInterval(sweep);
    },
    async close() {
      stopLoopStallGuard();
      tls?.dispose();
      handshakeWarning.close();
      stopTicketKeyRotation();
      stopParserWarning();
      stopRefusalWarning();
      server.closeAllConnections();
      await replies.close().catch(() => undefined);
      wakes.close();
      await publisher.close().catch(() => undefined);
    },
  };
}

/**
 * The service port's TLS: with a `clientCa` or `clientCerts`, the security server's "HTTPS"
 * connection type, where a connection without an accepted client certificate is refused at the
 * handshake (docs/xroad-deployment.md).
 */
function serviceTlsOptions(material: TlsMaterial): https.ServerOptions {
  const { cert, key, clientCa, clientCerts, crl } = material;
  return serverTlsOptions({
    cert,
    key,
    clientCa: clientCa?.length ? clientCa : undefined,
    clientCerts,
    crl,
  });
}
