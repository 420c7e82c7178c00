// The operator endpoints of the admin port (behind the admin token, see admin-sign-in.ts):
// backends paused and resumed, messages looked up and cancelled, dead letters listed, shown and
// replayed, hub listeners listed and removed, the operator journal, the status figures and the
// status page. Every role serves them: all they need is Redis, the broker and the configuration.

import type http from "node:http";
import type { ChannelWrapper } from "amqp-connection-manager";
import type Redis from "ioredis";
import type { Logger } from "pino";
import type { AdminServer } from "../observability/admin-server";
import type { AdminAnswer, AdminHandler, AdminRequest } from "../observability/admin-route-table";
import type { Broker } from "../broker/amqp";
import type { Clock } from "../runtime/clock";
import type { SluiceConfig } from "../config/config";
import { deliveryPolicy } from "../delivery/listener-admission";
import type { QueueMonitor } from "../broker/queue-monitor";
import { declareAllBackends, roleTopologyOptions } from "../broker/topology";
import { type TopologyNames } from "../protocol/names";
import type { TransactionStore } from "../store/transaction-store";
import type { BackendPauses, PauseState } from "./backend-pauses";
import { BackendStatusReader } from "./backend-status";
import {
  DEAD_LETTER_FILTER_KEYS,
  deadLetterFilter,
  type DeadLetterFilter,
  type DeadLetters,
  unknownFilterNames,
  unknownFilterWarning,
} from "./dead-letters";
import { lookUpMessage, type MessageLookup } from "./message-lookup";
import { cancelByOperator, conflictMessage, tellOperatorCancel } from "./operator-cancel";
import { unavailableOnOutage } from "./store-unavailable";
import { SluiceError } from "../protocol/errors";
import { issuedIdOf, operatorIdOf } from "../protocol/message-id";
import { OUTAGE_RETRY_AFTER_S } from "../runtime/outage";
import type { RecentFailures } from "./recent-failures";
import { NO_SUCH_DEAD_LETTER, Replayer } from "./replay";
import { Discarder } from "./discard";
import { CALLBACK_FILTER_KEYS, DeadCallbacks, deadCallbackFilter } from "./dead-callbacks";
import { CallbackRedeliverer, NO_SUCH_DEAD_CALLBACK } from "./callback-redelivery";
import { STATUS_PAGE, STATUS_SCRIPT, STATUS_STYLE } from "./status-page";
import { discardDeadLetters, redeliverDeadCallbacks, replayDeadLetters } from "./bulk-actions";
import { discardNote, singleDiscardNote } from "./discard-note";
import { HubListeners } from "../store/hub-listeners";
import {
  HUB_LISTENER_FILTER_KEYS,
  hubListenerDocument,
  hubListenerFilter,
  NO_SUCH_HUB_LISTENER,
  selectHubListeners,
} from "./hub-listener-selection";
import {
  actionAnswer,
  bulkSelection,
  deadLetterDocument,
  deadCallbackDocument,
  describeDead,
  invalid,
  limitOf,
  notFound,
  ok,
  keyProblem,
} from "./operator-answers";
import { LIST_LIMIT } from "./selection-limit";
import { cancelOutcome, oneOutcome, pauseOutcome, removalOutcome } from "./journal-entries";
import { adminActor, journaled, OperatorJournal } from "./operator-journal";

export interface OperatorDeps {
  admin: AdminServer;
  config: SluiceConfig;
  redis: Redis;
  store: TransactionStore;
  broker: Broker;
  names: TopologyNames;
  monitor: QueueMonitor;
  log: Logger;
  pauses: BackendPauses;
  deadLetters: DeadLetters;
  failures: RecentFailures;
  clock: Clock;
  /** Runs after a pause or resume asked here, so this process's workers obey at once. */
  afterPauseChange: () => Promise<void>;
  /**
   * Why Redis cannot be used now (disconnected, or silent by the heartbeat), or null: routes
   * that read it are then refused at once instead of after redisCommandTimeout.
   */
  redisProblem?: () => string | null;
  /** Where actions are journaled; by default the operator journal on `redis`. */
  journal?: OperatorJournal;
}

export function addOperatorRoutes(deps: OperatorDeps): void {
  const { admin, config, store, broker, names, monitor, pauses, deadLetters } = deps;
  // Every operator route reads Redis: one that fails or is silent answers 503 with
  // Retry-After, whichever route met it. Any other error is a bug: 500 Internal, logged.
  // While Redis is known to be out, they answer the same 503 at once, sending it nothing.
  const route = (method: string, pattern: RegExp, handler: AdminHandler) =>
    admin.addRoute(method, pattern, (...args) =>
      unavailableOnOutage(() => {
        const problem = deps.redisProblem?.() ?? null;
        if (problem !== null) {
          throw new SluiceError("Unavailable", `Redis unavailable (${problem})`, {
            retryAfter: OUTAGE_RETRY_AFTER_S,
          });
        }
        return handler(...args);
      }),
    );
  const known = new Set(Object.keys(config.backends));
  // Every action is journaled after it was taken, whatever came of it, with who asked: this
  // request's client and how it signed in (operator-journal.ts).
  const journal = deps.journal ?? new OperatorJournal(deps.redis, config.prefix, deps.log);
  const by = (req: http.IncomingMessage, request: AdminRequest) =>
    journal.as(adminActor(req, request.credential, config.instanceId));
  let publisher: ChannelWrapper | null = null;
  // Opened on first use: most admin ports never replay or cancel anything.
  const publish = () =>
    (publisher ??= broker.channel(
      "operator.publisher",
      async (channel) =>
        declareAllBackends(channel, config, names, roleTopologyOptions(broker, deps.log)),
      config.adapter.publishTimeoutMs,
    ));
  let replayer: Replayer | null = null;
  const replay = () =>
    (replayer ??= new Replayer({
      ...deps,
      publisher: publish(),
      publishTimeoutMs: config.adapter.publishTimeoutMs,
    }));
  const status = new BackendStatusReader(deps);
  const deadCallbacks = new DeadCallbacks(deps.redis, config.prefix, config.retentionMs);
  const hubListeners = new HubListeners(deps.redis, config.prefix);
  let redeliverer: CallbackRedeliverer | null = null;
  const redeliver = () =>
    (redeliverer ??= new CallbackRedeliverer({
      store,
      deadCallbacks,
      broker,
      publisher: publish(),
      names,
      publishTimeoutMs: config.adapter.publishTimeoutMs,
      maxJobBytes: config.amqpMaxMessageBytes,
    }));

  // Backends: pause, resume, state.
  // `already: true` only on a repeat (pausing a paused backend, resuming a running one), as a
  // repeated cancel says it; GET and a pause or resume that changed something have no `already`.
  const pauseAnswer = (name: string, state: PauseState & { already?: boolean }) =>
    ok({
      backend: name,
      paused: state.paused,
      since: state.since && new Date(state.since).toISOString(),
      ...(state.already ? { already: true } : {}),
    });
  route("POST", /^\/admin\/backends\/([^/]+)\/(pause|resume)$/, async (match, req, request) => {
    const name = match[1];
    const pausing = match[2] === "pause";
    const state = await journaled(
      by(req, request),
      pausing ? "backend.pause" : "backend.resume",
      name,
      async () => (!known.has(name) ? null : pausing ? pauses.pause(name) : pauses.resume(name)),
      (state) => (state === null ? { result: "not found" } : pauseOutcome(state)),
    );
    if (state === null) return notFound(`no backend named ${name}`);
    deps.log.info(
      { backend: name, action: match[2], already: state.already },
      state.already
        ? "operator repeated a backend's pause or resume"
        : "operator changed a backend",
    );
    await deps.afterPauseChange();
    return pauseAnswer(name, state);
  });
  route("GET", /^\/admin\/backends\/([^/]+)$/, async (match) => {
    // Backend names are plain words (the configuration checks them), so no decoding is needed.
    const name = match[1];
    if (!known.has(name)) return notFound(`no backend named ${name}`);
    return pauseAnswer(name, await pauses.state(name));
  });

  // Status figures and the page that shows them.
  route("GET", /^\/admin\/status$/, async () => {
    // Dead callbacks not redelivered yet, by reason, as dead letters are: counts, never a
    // read of the records (docs/operator.md, "Status page").
    const [figures, callbacksByReason] = await Promise.all([
      status.read(deps.clock.now()),
      deadCallbacks.failedCounts(),
    ]);
    return ok({
      generatedAt: new Date().toISOString(),
      instance: config.instanceId,
      // Out of reach, the queue figures are the last ones the broker gave (their sampledAt).
      broker: { connected: broker.isConnected() },
      ...figures,
      deadCallbacks: callbacksByReason,
    });
  });
  // The page and its script read nothing: served even while Redis is out.
  admin.addRoute("GET", /^\/$/, async () => ({
    status: 200,
    body: STATUS_PAGE,
    contentType: "text/html; charset=utf-8",
    headers: {
      // The page's own script and stylesheet only: nothing is loaded from anywhere else, and no
      // inline script or style runs (a style attribute that text from a backend smuggled in).
      "content-security-policy":
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
      "x-frame-options": "DENY",
    },
  }));
  admin.addRoute("GET", /^\/status\.js$/, async () => ({
    status: 200,
    body: STATUS_SCRIPT,
    contentType: "text/javascript; charset=utf-8",
  }));
  admin.addRoute("GET", /^\/status\.css$/, async () => ({
    status: 200,
    body: STATUS_STYLE,
    contentType: "text/css; charset=utf-8",
  }));

  // Messages: by gateway id, or by (client, service, X-Road id); cancel.
  const messages = { store, deadLetters, services: Object.keys(config.services) };
  const answer = (found: MessageLookup): AdminAnswer =>
    found.result === "found"
      ? ok(found.message)
      : found.result === "ambiguous"
        ? { status: 409, body: found.ambiguity }
        : notFound("no such message");
  const lookup = async (id: string) => answer(await lookUpMessage(messages, { id }, Date.now()));
  route("GET", /^\/admin\/messages\/([^/]+)$/, async (match) => {
    const id = issuedIdOf(decodeURIComponent(match[1]));
    if (id === null) return notFound("no such message");
    return lookup(id);
  });
  route("GET", /^\/admin\/messages$/, async (_match, _req, { query }) => {
    const problem = keyProblem(query.keys(), ["client", "xroadId", "service"]);
    if (problem !== null) return problem;
    const client = query.get("client");
    const xroadId = query.get("xroadId");
    if (!client || !xroadId) {
      return invalid(
        "give client and xroadId (and service to narrow it), or look up /admin/messages/<id>",
      );
    }
    const service = query.get("service");
    return answer(await lookUpMessage(messages, { client, xroadId, service }, Date.now()));
  });
  const cancel: AdminHandler = async (match, req, request) => {
    const asked = decodeURIComponent(match[1]);
    const id = issuedIdOf(asked);
    const cancelled = await journaled(
      by(req, request),
      "message.cancel",
      asked,
      async () => (id === null ? { result: "missing" as const } : cancelByOperator(store, id)),
      cancelOutcome,
    );
    if (id === null || cancelled.result === "missing") return notFound("no such message");
    if (cancelled.result === "conflict") {
      return { status: 409, body: { type: "Conflict", message: conflictMessage(cancelled.state) } };
    }
    if (cancelled.result === "cancelled") deps.log.info({ id }, "operator cancelled a message");
    // Listeners hear of it once, however often a repeat tells them.
    await tellOperatorCancel({ broker, publisher: publish(), names, log: deps.log }, id, cancelled);
    return lookup(id);
  };
  route("DELETE", /^\/admin\/messages\/([^/]+)$/, cancel);
  route("POST", /^\/admin\/messages\/([^/]+)\/cancel$/, cancel);

  // A bulk replay's or redelivery's body: its selection, and whether it is a dry run.
  const bulkRun = <F extends object>(
    body: unknown,
    filterOf: (get: (key: string) => unknown) => F,
    keys: readonly string[],
  ) => {
    const selection = bulkSelection(body, filterOf, keys, { dryRun: true });
    return "filter" in selection ? { ...selection, dryRun: selection.dryRun === true } : selection;
  };

  // A filter's backend or service the configuration lacks, most likely a typo: `warnings`
  // beside the answer (absent when there is none), as the CLI warns of it.
  const filterWarnings = (filter: DeadLetterFilter): { warnings?: string[] } => {
    const unknown = unknownFilterNames(filter, config);
    if (unknown.length === 0) return {};
    return {
      warnings: unknown.map((name) =>
        unknownFilterWarning(name, `${name.key} ${JSON.stringify(name.value)}`),
      ),
    };
  };

  // Dead letters: list with filters, show one, replay one or a selection.
  route("GET", /^\/admin\/dead-letters$/, async (_match, _req, { query }) => {
    const problem = keyProblem(query.keys(), [...DEAD_LETTER_FILTER_KEYS, "replayed", "limit"]);
    if (problem !== null) return problem;
    const filter = deadLetterFilter((key) => query.get(key));
    const replayed = query.get("replayed");
    if (replayed === "no" || replayed === "yes") filter.replayed = replayed === "yes";
    else if (replayed !== null) return invalid('replayed is "no" or "yes"');
    const limit = limitOf(query.get("limit"), LIST_LIMIT);
    if (typeof limit !== "number") return limit;
    const now = Date.now();
    const entries = await deadLetters.list(filter, limit);
    return ok({
      deadLetters: entries.map((entry) => describeDead(entry, now)),
      ...filterWarnings(filter),
    });
  });
  route("GET", /^\/admin\/dead-letters\/([^/]+)$/, async (match) => {
    const entry = await deadLetters.get(operatorIdOf(decodeURIComponent(match[1])));
    if (!entry) return notFound(NO_SUCH_DEAD_LETTER);
    return ok(deadLetterDocument(entry, Date.now()));
  });
  route("POST", /^\/admin\/dead-letters\/([^/]+)\/replay$/, async (match, req, request) => {
    const id = operatorIdOf(decodeURIComponent(match[1]));
    const result = await journaled(
      by(req, request),
      "dead-letter.replay",
      id,
      () => replay().replay(id),
      (done) => oneOutcome(done, NO_SUCH_DEAD_LETTER),
    );
    deps.log.info(
      { id: result.id, replayedAs: result.replayedAs, result: result.result },
      "operator replayed a dead letter",
    );
    return actionAnswer(result, NO_SUCH_DEAD_LETTER);
  });
  const discarder = new Discarder(deps.redis, deadLetters);
  // One dead letter, with the operator's note of why if given (optional: scripts discarded by
  // id with no body before there was a note).
  route("POST", /^\/admin\/dead-letters\/([^/]+)\/discard$/, async (match, req, request) => {
    const id = operatorIdOf(decodeURIComponent(match[1]));
    const note = singleDiscardNote(request.body);
    if (note !== null && typeof note !== "string") return invalid(note.problem);
    const result = await journaled(
      by(req, request),
      "dead-letter.discard",
      id,
      () => discarder.discard(id, true, note ?? ""),
      (done) => oneOutcome(done, NO_SUCH_DEAD_LETTER),
      note ?? undefined,
    );
    deps.log.info(
      { id: result.id, replayedAs: result.replayedAs, result: result.result, note },
      "operator discarded a dead letter",
    );
    return actionAnswer(result, NO_SUCH_DEAD_LETTER);
  });
  route("POST", /^\/admin\/dead-letters\/replay$/, async (_match, req, request) => {
    const selection = bulkRun(request.body, deadLetterFilter, DEAD_LETTER_FILTER_KEYS);
    if (!("filter" in selection)) return selection;
    const { filter, dryRun } = selection;
    const outcome = await replayDeadLetters({
      ...selection,
      replayer: replay(),
      deadLetters,
      record: by(req, request),
      // The depth as the adapter's backpressure reads it: the last sample and what this
      // process published since, replays included, so a second run before the next sample (a
      // double click, two operators) does not find the room the first one took.
      depthOf: (backend) => monitor.estimatedDepth(names.requestsQueue(backend)),
      stopping: () => admin.isDraining,
      noteReplayed: (backend) => monitor.notePublished(names.requestsQueue(backend)),
    });
    // A run cut short by an error says so at warn: its answer is a 200 listing what was done.
    deps.log[outcome.failure === undefined ? "info" : "warn"](
      {
        filter,
        dryRun,
        replayed: outcome.replayed.length,
        skipped: outcome.skipped.length,
        failure: outcome.failure ?? null,
      },
      dryRun ? "operator dry-ran a replay of dead letters" : "operator replayed dead letters",
    );
    return ok({ ...outcome, ...filterWarnings(filter) });
  });

  // A bulk discard: the bulk replay's selection, and the operator's note of why (required: the
  // journal is where the next operator finds out why thousands of dead letters were dropped).
  route("POST", /^\/admin\/dead-letters\/discard$/, async (_match, req, request) => {
    const { note, rest } = discardNote(request.body);
    const selection = bulkRun(rest, deadLetterFilter, DEAD_LETTER_FILTER_KEYS);
    if (!("filter" in selection)) return selection;
    if (typeof note !== "string") return invalid(note.problem);
    const { filter, dryRun } = selection;
    const outcome = await discardDeadLetters({
      ...selection,
      note,
      discarder,
      deadLetters,
      record: by(req, request),
      stopping: () => admin.isDraining,
    });
    deps.log[outcome.failure === undefined ? "info" : "warn"](
      {
        filter,
        dryRun,
        note,
        discarded: outcome.discarded.length,
        skipped: outcome.skipped.length,
        failure: outcome.failure ?? null,
      },
      dryRun ? "operator dry-ran a discard of dead letters" : "operator discarded dead letters",
    );
    return ok({ ...outcome, ...filterWarnings(filter) });
  });

  // Hub listeners: list (by client or receiver), remove one whose receiver is gone for good.
  route("GET", /^\/admin\/hub-listeners$/, async (_match, _req, { query }) => {
    const problem = keyProblem(query.keys(), [...HUB_LISTENER_FILTER_KEYS, "limit"]);
    if (problem !== null) return problem;
    const limit = limitOf(query.get("limit"), LIST_LIMIT);
    if (typeof limit !== "number") return limit;
    const filter = hubListenerFilter((key) => query.get(key));
    const now = Date.now();
    const found = await selectHubListeners(hubListeners, filter, limit);
    // Judged by this process's configuration: during a rollout a response worker on another
    // one may judge otherwise.
    const policy = deliveryPolicy(config);
    return ok({
      hubListeners: found.map((listener) => hubListenerDocument(listener, now, policy)),
    });
  });
  route("DELETE", /^\/admin\/hub-listeners\/([^/]+)$/, async (match, req, request) => {
    const id = operatorIdOf(decodeURIComponent(match[1]));
    const removed = await journaled(
      by(req, request),
      "hub-listener.remove",
      id,
      () => hubListeners.removeAny(id),
      removalOutcome,
    );
    if (removed === null) return notFound(NO_SUCH_HUB_LISTENER);
    deps.log.info(
      { listener: removed.id, client: removed.client },
      "operator removed a hub listener",
    );
    return ok({ removed: hubListenerDocument(removed, Date.now()) });
  });

  // Dead callbacks: list with filters, redeliver one or a selection.
  route("GET", /^\/admin\/dead-callbacks$/, async (_match, _req, { query }) => {
    const problem = keyProblem(query.keys(), [...CALLBACK_FILTER_KEYS, "limit"]);
    if (problem !== null) return problem;
    const filter = deadCallbackFilter((key) => query.get(key));
    const limit = limitOf(query.get("limit"), LIST_LIMIT);
    if (typeof limit !== "number") return limit;
    const now = Date.now();
    const entries = await deadCallbacks.list(filter, limit);
    return ok({ deadCallbacks: entries.map((entry) => deadCallbackDocument(entry, now)) });
  });
  route("GET", /^\/admin\/dead-callbacks\/([^/]+)$/, async (match) => {
    const entry = await deadCallbacks.get(operatorIdOf(decodeURIComponent(match[1])));
    return entry ? ok(deadCallbackDocument(entry, Date.now())) : notFound(NO_SUCH_DEAD_CALLBACK);
  });
  route("POST", /^\/admin\/dead-callbacks\/([^/]+)\/redeliver$/, async (match, req, request) => {
    const id = operatorIdOf(decodeURIComponent(match[1]));
    const result = await journaled(
      by(req, request),
      "dead-callback.redeliver",
      id,
      () => redeliver().redeliver(id),
      (done) => oneOutcome(done, NO_SUCH_DEAD_CALLBACK),
    );
    deps.log.info({ id: result.id, result: result.result }, "operator redelivered a callback");
    return actionAnswer(result, NO_SUCH_DEAD_CALLBACK);
  });
  route("POST", /^\/admin\/dead-callbacks\/redeliver$/, async (_match, req, request) => {
    const selection = bulkRun(request.body, deadCallbackFilter, CALLBACK_FILTER_KEYS);
    if (!("filter" in selection)) return selection;
    const { filter, dryRun } = selection;
    const outcome = await redeliverDeadCallbacks({
      ...selection,
      redeliverer: redeliver(),
      deadCallbacks,
      record: by(req, request),
      stopping: () => admin.isDraining,
    });
    deps.log[outcome.failure === undefined ? "info" : "warn"](
      {
        filter,
        dryRun,
        redelivered: outcome.redelivered.filter((r) => r.result === "redelivered").length,
        skipped: outcome.skipped.length,
        failure: outcome.failure ?? null,
      },
      dryRun ? "operator dry-ran a redelivery of callbacks" : "operator redelivered callbacks",
    );
    return ok(outcome);
  });

  // The operator journal: who did what, from where, newest first.
  route("GET", /^\/admin\/journal$/, async (_match, _req, { query }) => {
    const problem = keyProblem(query.keys(), ["limit"]);
    if (problem !== null) return problem;
    const limit = limitOf(query.get("limit"), LIST_LIMIT);
    if (typeof limit !== "number") return limit;
    return ok({ entries: await journal.newest(limit) });
  });
}
