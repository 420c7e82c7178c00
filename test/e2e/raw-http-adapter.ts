// One adapter with a REST and a SOAP service, for the suites that talk raw HTTP to it over a
// socket (what Node's parser refuses, Expect: 100-continue), and how they read its answers.

import { expect } from "chai";
import { call, type Harness, type SluiceProcess } from "../support/harness";

export const CLIENT = "EE/GOV/70000001/case-app";

/** An answer read off the socket: its status, its head (status line and headers), its body. */
export interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

export function rawAnswer(received: Buffer): RawAnswer {
  const text = received.toString("utf8");
  const split = text.indexOf("\r\n\r\n");
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
    head: split >= 0 ? text.slice(0, split) : text,
    body: split >= 0 ? text.slice(split + 4) : "",
  };
}

/** Starts an adapter offering `echo` (REST, ack) and `testQuery` (SOAP, ack). */
export async function startRawHttpAdapter(harness: Harness): Promise<SluiceProcess> {
  harness.writeConfig({
    services: {
      echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
      testQuery: { protocols: ["soap"], reply: { mode: "ack" }, backend: "legacy" },
    },
    backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
  });
  return harness.spawn("adapter");
}

/** The adapter still accepts an ordinary request after whatever the test sent it. */
export async function stillServes(sluice: SluiceProcess): Promise<void> {
  const answer = await call(`${sluice.url}/rest/echo`, { client: CLIENT, body: "{}" });
  expect(answer.status, answer.text).to.equal(202);
}
