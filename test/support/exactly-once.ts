// The exactly-once checker: submits ack requests as a caller would (a 503 is retried with the
// same X-Road id), injects one fault once some are accepted, then checks that every accepted
// message reached the backend exactly once and ended in exactly one terminal outcome.

import { randomUUID } from "node:crypto";
import type { LegacySim } from "../../legacy-sim/legacy-sim";
import { call } from "./harness";

/** What a submission came to: the gateway id of an accepted message, or a refusal to retry. */
export type Submitted = { id: string } | { refused: string };

/** An answer that is neither an acceptance nor a refusal: the run stops with it. */
export class UnexpectedAnswer extends Error {
  constructor(status: number, text: string) {
    super(`unexpected answer ${status}: ${text}`);
  }
}

/** The backend's record of calls, as the checker reads it. */
export type CallRecord = Pick<LegacySim, "calls">;

export interface CheckRun {
  /** Adapters to submit to, round robin (a caller behind a load balancer). */
  adapters: () => string[];
  service: string;
  /**
   * Submits message `n` with the caller's X-Road id to an adapter; throws on an answer that is
   * neither. Default: a REST call to /rest/<service> with Prefer: respond-async.
   */
  submit?: (adapterUrl: string, xroadId: string, n: number) => Promise<Submitted>;
  /** Messages to get accepted. */
  count: number;
  /** Submissions in flight at once. */
  concurrency?: number;
  sim: CallRecord;
  /** Runs once `faultAfter` messages were accepted; submissions go on meanwhile. */
  fault: () => Promise<void>;
  faultAfter: number;
  /** How long the accepted messages may take to settle after the last submission. */
  settleMs?: number;
}

export interface Verdict {
  accepted: number;
  /** 503 answers the callers retried. */
  refusals: number;
  /** Accepted messages the backend never saw that have no terminal outcome. */
  lost: string[];
  /**
   * Accepted messages the backend saw once whose outcome nobody could read at the end: their
   * record went with Redis's data after they finished (an outcome lost, not a message).
   */
  outcomeLost: Array<{ id: string; callEndedAt: number | null }>;
  /** Accepted messages the backend saw more than once. */
  twice: string[];
  /** Backend calls per message id. */
  calls: Map<string, number>;
  /** Accepted messages the backend never saw (only right for an outcome other than completed). */
  neverCalled: string[];
  /** Messages whose status shows more than one terminal outcome or response. */
  inconsistent: string[];
  outcomes: Record<string, number>;
  /** Calls the backend got for ids nobody was told were accepted (a 503'd submission). */
  strayCalls: number;
  /** When the fault began (epoch ms). */
  faultAt: number;
  /** The status document read at the end for each settled message, by id. */
  states: Map<string, Record<string, unknown>>;
}

const TERMINAL = ["completed", "rejected", "failed", "expired", "cancelled"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The default submission: message `n` as a REST call to /rest/<service> with
 * Prefer: respond-async, `query` (without "?") on its path when given.
 */
export function submitRest(service: string, query = "") {
  return async (url: string, xroadId: string, n: number): Promise<Submitted> => {
    const answer = await call(`${url}/rest/${service}${query ? `?${query}` : ""}`, {
      body: JSON.stringify({ n }),
      headers: { "X-Road-Id": xroadId, Prefer: "respond-async" },
    });
    if (answer.status === 202) return { id: answer.json.id as string };
    if (answer.status === 503) return { refused: answer.text };
    throw new UnexpectedAnswer(answer.status, answer.text);
  };
}

export async function checkExactlyOnce(run: CheckRun): Promise<Verdict> {
  const accepted: string[] = [];
  let refusals = 0;
  let next = 0;
  let faultDone: Promise<void> | null = null;
  let turn = 0;
  let faultAt = 0;
  const startFault = (): Promise<void> => {
    faultAt = Date.now();
    return run.fault();
  };

  const submit = run.submit ?? submitRest(run.service);

  const submitOne = async (n: number): Promise<void> => {
    const xroadId = `eo-${n}-${randomUUID()}`;
    const giveUp = Date.now() + (run.settleMs ?? 120_000);
    let last = "";
    for (;;) {
      if (Date.now() > giveUp) throw new Error(`message ${n} was refused until the end: ${last}`);
      const adapters = run.adapters();
      const url = adapters[turn++ % adapters.length];
      let answer: Submitted;
      try {
        answer = await submit(url, xroadId, n);
      } catch (error) {
        if (error instanceof UnexpectedAnswer) throw error;
        answer = { refused: "no answer" }; // the adapter itself is restarting: like a 503
      }
      if ("id" in answer) {
        accepted.push(answer.id);
        if (accepted.length >= run.faultAfter && !faultDone) faultDone = startFault();
        return;
      }
      refusals++;
      last = answer.refused;
      await sleep(250);
    }
  };
  // Outcomes are read as they come, so one stored before Redis lost its data still counts.
  const states = new Map<string, Record<string, unknown>>();
  const look = async (): Promise<void> => {
    const open = accepted.filter((id) => !states.has(id));
    for (let i = 0; i < open.length; i += 50) {
      await Promise.all(
        open.slice(i, i + 50).map(async (id) => {
          const adapters = run.adapters();
          const doc = await call(`${adapters[0]}/messages/${id}`).catch(() => null);
          if (doc?.status === 200 && TERMINAL.includes(doc.json?.state)) states.set(id, doc.json);
        }),
      );
    }
  };
  let submitting = true;
  const watcher = (async () => {
    while (submitting) {
      await look();
      await sleep(500);
    }
  })();

  const workers = Array.from({ length: run.concurrency ?? 8 }, async () => {
    while (next < run.count) await submitOne(next++);
  });
  try {
    await Promise.all(workers);
    if (!faultDone) faultDone = startFault();
    await faultDone;
  } finally {
    submitting = false;
    await watcher;
  }

  // Every accepted message must settle; a status read may fail (503) or answer 404 for a
  // while after Redis lost its data, until a worker has written the record again.
  // A message whose call ended before the fault and whose outcome cannot be read went with
  // Redis's data: waiting longer will not bring it back.
  const finishedBeforeFault = (id: string) =>
    run.sim.calls({ id }).some((c) => c.endedAt !== null && c.endedAt <= faultAt);
  const deadline = Date.now() + (run.settleMs ?? 120_000);
  while (
    Date.now() < deadline &&
    accepted.some((id) => !states.has(id) && !finishedBeforeFault(id))
  ) {
    await look();
    await sleep(500);
  }
  await look();

  const perId = new Map<string, number>();
  for (const c of run.sim.calls()) perId.set(c.id ?? "", (perId.get(c.id ?? "") ?? 0) + 1);
  const acceptedSet = new Set(accepted);
  const outcomes: Record<string, number> = {};
  const inconsistent: string[] = [];
  for (const doc of states.values()) {
    const state = String(doc.state);
    outcomes[state] = (outcomes[state] ?? 0) + 1;
    const history = (doc.history as Array<{ state: string }> | undefined) ?? [];
    const terminals = history.filter((h) => TERMINAL.includes(h.state)).length;
    const finals = ((doc.responses as Array<{ final: boolean }>) ?? []).filter((r) => r.final);
    if (terminals > 1 || finals.length !== 1) inconsistent.push(String(doc.id));
  }
  return {
    accepted: accepted.length,
    refusals,
    lost: accepted.filter((id) => !states.has(id) && !perId.has(id)),
    outcomeLost: accepted
      .filter((id) => !states.has(id) && perId.has(id))
      .map((id) => ({ id, callEndedAt: run.sim.calls({ id })[0]?.endedAt ?? null })),
    twice: accepted.filter((id) => (perId.get(id) ?? 0) > 1),
    calls: perId,
    neverCalled: accepted.filter(
      (id) => (perId.get(id) ?? 0) === 0 && states.get(id)?.state === "completed",
    ),
    inconsistent,
    outcomes,
    strayCalls: [...perId.keys()].filter((id) => !acceptedSet.has(id)).length,
    faultAt,
    states,
  };
}

/** One line for the test output: what a run found. */
export function describeVerdict(name: string, verdict: Verdict): string {
  return (
    `${name}: accepted ${verdict.accepted} (${verdict.refusals} refusals retried), ` +
    `lost ${verdict.lost.length}, sent twice ${verdict.twice.length}, ` +
    `outcome unreadable ${verdict.outcomeLost.length}, ` +
    `outcomes ${JSON.stringify(verdict.outcomes)}`
  );
}

/** What the explanations read of a role process: its role and its parsed log lines. */
export interface LoggedProcess {
  role: string;
  lines: Array<Record<string, unknown>>;
}

/**
 * Messages whose every call beyond the first is one the worker itself retried after a backend
 * failure ("backend unavailable", a timeout on a loaded machine): Sluice's retry policy at
 * work, not a fault's doing. A message called more often than its retries explain is not here.
 */
export function retriedByWorker(verdict: Verdict, processes: LoggedProcess[]): Set<string> {
  const retries = new Map<string, number>();
  for (const proc of processes)
    for (const line of proc.lines)
      if (String(line.msg).startsWith("backend unavailable")) {
        const id = String(line.id);
        retries.set(id, (retries.get(id) ?? 0) + 1);
      }
  return new Set(
    verdict.twice.filter((id) => (verdict.calls.get(id) ?? 0) <= 1 + (retries.get(id) ?? 0)),
  );
}

/** Prints the backend's calls and every log line of the first few messages sent twice or lost. */
export function explainVerdict(
  verdict: Verdict,
  sim: CallRecord,
  processes: LoggedProcess[],
  limit = 4,
): void {
  const odd = [...verdict.states.entries()]
    .filter(([, doc]) => doc.state !== "completed")
    .map(([id]) => id);
  for (const id of [...verdict.twice, ...verdict.lost, ...odd.slice(0, 2)].slice(0, limit)) {
    const calls = sim.calls({ id }).map((c) => ({
      startedAt: c.startedAt - verdict.faultAt,
      endedAt: c.endedAt === null ? null : c.endedAt - verdict.faultAt,
      status: c.status,
    }));
    const doc = verdict.states.get(id);
    console.log(
      `      ${id}: ${doc ? `${String(doc.state)} ${JSON.stringify(doc.error)}` : "unsettled"}, ` +
        `calls (ms from the fault) ${JSON.stringify(calls)}`,
    );
    for (const proc of processes)
      for (const line of proc.lines.filter((l) => l.id === id && l.msg !== "request"))
        console.log(
          `        ${proc.role} ${Date.parse(String(line.time)) - verdict.faultAt} ${line.msg} ` +
            JSON.stringify({ ...line, msg: undefined, time: undefined, id: undefined }).slice(
              0,
              300,
            ),
        );
  }
}
