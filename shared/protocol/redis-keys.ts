// Every Redis key (and pub/sub channel) Sluice uses, under `<prefix>sluice:`. Roles of
// different releases share these keys, so renaming one is a protocol change (docs/architecture.md).

import { createHash } from "node:crypto";

export interface RedisKeys {
  /** `<prefix>sluice:`, the root every key below starts with. */
  readonly root: string;
  /** Hash: a transaction record (meta, state, delivery, history, marks). */
  tx(id: string): string;
  /** Hash: a transaction's responses, seq → response. */
  txResponses(id: string): string;
  /** Set once a terminal state change without a response (a cancel) was told to listeners. */
  txTold(id: string): string;
  /** The gateway id of the first submission of (client, service, X-Road id). */
  dedup(client: string, service: string, xroadId: string): string;
  /**
   * Sluice 0.1.0's de-duplication key, by (client, X-Road id) alone: still read, never
   * written, until the last one written before an upgrade has expired (docs/operations.md).
   */
  dedupV1(client: string, xroadId: string): string;
  /** String: one hub listener (JSON). */
  hubListener(id: string): string;
  /** Set: the hub listener ids of one client. */
  hubClient(client: string): string;
  /**
   * Set: those of a client's hub listener ids (in `hubClient`) registered through a security
   * server, so the X-Road client and the local system of one client id have a limit each.
   */
  hubClientXroad(client: string): string;
  /**
   * Set: the clients that hold hub listeners, kept by the scripts that add and remove them, so
   * operators list every listener without walking the keyspace.
   */
  hubClients: string;
  /**
   * String: set once `hubClients` was filled from the client sets of listeners registered
   * before it existed (one walk of the keyspace per deployment).
   */
  hubClientsBuilt: string;
  /**
   * String: the listener (JSON, as `hubListener` holds it) registered by one client for one
   * callback and query, so the same registration again finds it instead of adding another.
   */
  hubRegistration(client: string, callback: string, query: string): string;
  /**
   * String: the client whose hub listener was removed, kept a day, so that client's repeated
   * `DELETE /hub/<id>` answers as the first one did.
   */
  hubRemoved(id: string): string;
  /**
   * Hash: a large hub event's JSON (field `body`), written once for the jobs of all the
   * listeners it goes to, and a field per listener whose job has not settled yet.
   */
  eventPayload(eventKey: string): string;
  /**
   * String with an expiry: a callback attempt set apart from the broker's prefetch while it
   * ran (a slow receiver) has ended and its outcome is on the queues or recorded, so the copy
   * kept on the queues against a crash meanwhile (its `parkedCopy` token) is dropped when back.
   */
  parkedAttemptDone(token: string): string;
  /** Hash: one dead letter recorded for the operator. */
  deadLetter(id: string): string;
  /**
   * String with an expiry: held while a dead letter's replay is being published. A replay
   * claimed but never confirmed (its publisher stopped) is sent again only once this is gone.
   */
  replayPublishing(replayId: string): string;
  /** Sorted set: the ids of recorded dead letters by time. */
  deadLetterIndex: string;
  /** The dead letters not replayed yet, counted by backend and reason (status page). */
  deadLetterTally: TallyKeys;
  /** Hash: a message whose final callback ended without success, for the operator. */
  deadCallback(id: string): string;
  /** Sorted set: the message ids of recorded dead callbacks by time. */
  deadCallbackIndex: string;
  /** The dead callbacks whose delivery is delivery_failed, counted by reason (status page). */
  deadCallbackTally: TallyKeys;
  /**
   * String with an expiry: held while an operator's redelivery of a dead callback is being
   * published; one claimed but never confirmed is sent again only once this is gone.
   */
  redeliveryPublishing(id: string): string;
  /** List: a backend's most recent failed calls (status page). */
  recentFailures(backend: string): string;
  /** Sorted set: a backend's in-flight leases, by expiry. */
  inflight(backend: string): string;
  /** Pub/sub channel: a backend's in-flight slot was released (told only while someone waits). */
  inflightReleased(backend: string): string;
  /** Sorted set: the tries waiting for one of a backend's in-flight slots, by expiry. */
  inflightWaiting(backend: string): string;
  /** Pub/sub channel: wake messages for the sync callers one adapter instance holds. */
  wake(instance: string): string;
  /** The GCRA state of a backend's rate limit. */
  rate(backend: string): string;
  /** The rates asking for a backend's tokens lately (a hash: each one's bound, its last ask). */
  rateAsking(backend: string): string;
  /** Hash: backends the operator paused. */
  pausedBackends: string;
  /** Stream: one entry per operator action (admin port or CLI), bounded (operator-journal.ts). */
  operatorJournal: string;
  /** String with an expiry: one process's write heartbeat (redis-heartbeat.ts). */
  heartbeat(instance: string): string;
}

/** The keys of a count of operator entries by group (shared/operator/pending-tally.ts). */
export interface TallyKeys {
  /** Sorted set: the ids counted, scored by when their record expires (epoch ms). */
  members: string;
  /** Hash: id → its group. */
  groups: string;
  /** Hash: group → how many ids it has. */
  counts: string;
  /** String: set once the tally was built from the index (entries recorded before it existed). */
  built: string;
}

function tallyKeys(base: string): TallyKeys {
  return {
    members: base,
    groups: `${base}:groups`,
    counts: `${base}:counts`,
    built: `${base}:built`,
  };
}

/** The keys of one deployment: `prefix` isolates deployments (and tests) on one Redis. */
export function redisKeys(prefix: string): RedisKeys {
  const root = `${prefix}sluice:`;
  return {
    root,
    tx: (id) => `${root}tx:${id}`,
    txResponses: (id) => `${root}tx:${id}:responses`,
    txTold: (id) => `${root}tx:${id}:told`,
    // Length-prefixed: every part may contain ":", and no two triples may collide.
    dedup: (client, service, xroadId) =>
      `${root}dedup:${client.length}:${client}:${service.length}:${service}:${xroadId}`,
    dedupV1: (client, xroadId) => `${root}dedup:${client.length}:${client}:${xroadId}`,
    hubListener: (id) => `${root}hub:listener:${id}`,
    hubClient: (client) => `${root}hub:client:${client}`,
    // Not under "hub:client:": the walk that builds `hubClients` matches those sets alone.
    hubClientXroad: (client) => `${root}hub:xroad-client:${client}`,
    // "clients", not "client:": no client's set can be named so, nor match its SCAN pattern.
    hubClients: `${root}hub:clients`,
    hubClientsBuilt: `${root}hub:clients:built`,
    // The callback and query are hashed: a URL may be long, and the key stays one line.
    hubRegistration: (client, callback, query) =>
      `${root}hub:registration:${client.length}:${client}:${createHash("sha256")
        .update(JSON.stringify([callback, query]))
        .digest("hex")}`,
    hubRemoved: (id) => `${root}hub:removed:${id}`,
    eventPayload: (eventKey) => `${root}event-payload:${eventKey}`,
    parkedAttemptDone: (token) => `${root}parked-attempt:${token}`,
    deadLetter: (id) => `${root}dead:${id}`,
    replayPublishing: (replayId) => `${root}replay-publishing:${replayId}`,
    deadLetterIndex: `${root}dead-letters`,
    deadLetterTally: tallyKeys(`${root}dead-letters:waiting`),
    deadCallback: (id) => `${root}dead-callback:${id}`,
    deadCallbackIndex: `${root}dead-callbacks`,
    deadCallbackTally: tallyKeys(`${root}dead-callbacks:failed`),
    redeliveryPublishing: (id) => `${root}redelivery-publishing:${id}`,
    recentFailures: (backend) => `${root}recent-failures:${backend}`,
    inflight: (backend) => `${root}inflight:${backend}`,
    inflightReleased: (backend) => `${root}inflight:${backend}:released`,
    inflightWaiting: (backend) => `${root}inflight:${backend}:waiting`,
    wake: (instance) => `${root}wake:${instance}`,
    rate: (backend) => `${root}rate:${backend}`,
    rateAsking: (backend) => `${root}rate:${backend}:asking`,
    pausedBackends: `${root}paused-backends`,
    operatorJournal: `${root}operator-journal`,
    heartbeat: (instance) => `${root}heartbeat:${instance}`,
  };
}
