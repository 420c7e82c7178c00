// Per-call behaviour a test asks for: a forced status, Retry-After, latency, "fail the first
// n tries" or several responses. Read from X-Sim-* headers, sim-* query parameters, or sim-*
// markers in a SOAP body.

import type { IncomingHttpHeaders } from "node:http";

export interface CallPlan {
  /** Status to answer instead of the normal answer. */
  status: number | null;
  /** Value for a Retry-After header on the answer. */
  retryAfter: string | null;
  /** This call's delay, replacing the settings. */
  latencyMs: number | null;
  /** Answer 503 to the first n calls with the same key. */
  failTimes: number | null;
  /** REST: answer n responses at once under the `X-Multiple-Responses` convention. */
  responses: number | null;
  /** Extra headers on the answer, from a JSON object `{"name": "value" | ["v1", "v2"]}`. */
  headers: Record<string, string | string[]> | null;
}

/** Most responses one call may ask for, so a typo cannot build a huge answer. */
export const MAX_SIM_RESPONSES = 100;

type Hook = "status" | "retry-after" | "latency" | "fail-times" | "responses" | "headers";

const STATUS_PATH = /^\/status\/(\d{3})(?:\/|$)/;
const NUMBER = /^\s*\d+(\.\d+)?\s*$/;

/**
 * Where a hook's value comes from. Headers are the direct way (a REST caller's own headers
 * reach the backend through Sluice); query parameters and SOAP body markers
 * (`sim-fail-times=2` anywhere in the text) reach it from SOAP callers too.
 */
function lookup(headers: IncomingHttpHeaders, search: string, soapXml: string | null) {
  let query: URLSearchParams | null = null;
  return (hook: Hook): string | null => {
    const fromHeader = headers[`x-sim-${hook}`];
    if (fromHeader !== undefined) return Array.isArray(fromHeader) ? fromHeader[0] : fromHeader;
    if (search.includes("sim-")) {
      query ??= new URLSearchParams(search);
      const fromQuery = query.get(`sim-${hook}`);
      if (fromQuery !== null) return fromQuery;
    }
    if (soapXml !== null && soapXml.includes("sim-")) {
      const marker = new RegExp(`sim-${hook}=([^\\s<]+)`).exec(soapXml);
      if (marker) return marker[1];
    }
    return null;
  };
}

/** The plan for one call, or a message saying which hook value is malformed. */
export function planCall(
  headers: IncomingHttpHeaders,
  path: string,
  search: string,
  soapXml: string | null,
): CallPlan | string {
  const get = lookup(headers, search, soapXml);
  const number = (hook: Hook): number | null => {
    const raw = get(hook);
    if (raw === null) return null;
    return NUMBER.test(raw) ? Number(raw) : NaN;
  };
  const fromPath = STATUS_PATH.exec(path);
  const status = fromPath ? Number(fromPath[1]) : number("status");
  if (status !== null && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    return "X-Sim-Status (or /status/<code>) must be an HTTP status from 200 to 599";
  }
  const latencyMs = number("latency");
  if (Number.isNaN(latencyMs)) return "X-Sim-Latency must be milliseconds >= 0";
  const failTimes = number("fail-times");
  if (failTimes !== null && !Number.isInteger(failTimes)) {
    return "X-Sim-Fail-Times must be an integer >= 0";
  }
  const responses = number("responses");
  if (
    responses !== null &&
    !(Number.isInteger(responses) && responses >= 1 && responses <= MAX_SIM_RESPONSES)
  ) {
    return `X-Sim-Responses must be an integer from 1 to ${MAX_SIM_RESPONSES}`;
  }
  const extra = answerHeaders(get("headers"));
  if (typeof extra === "string") return extra;
  return {
    status,
    latencyMs,
    failTimes,
    responses,
    retryAfter: get("retry-after"),
    headers: extra,
  };
}

/** `X-Sim-Headers`: a JSON object of header names to a value or a list of values. */
function answerHeaders(raw: string | null): Record<string, string | string[]> | null | string {
  if (raw === null) return null;
  const problem = 'X-Sim-Headers must be a JSON object of header names to "value" or ["values"]';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return problem;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return problem;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(parsed)) {
    const ok =
      /^[!#$%&'*+.^_`|~\w-]+$/.test(name) &&
      (typeof value === "string" ||
        (Array.isArray(value) && value.every((v) => typeof v === "string")));
    if (!ok) return problem;
    headers[name.toLowerCase()] = value as string | string[];
  }
  return headers;
}
