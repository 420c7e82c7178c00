// A worker that stood still (SIGSTOP, a long GC pause, a starved CPU) past a call's deadline
// while the backend's answer, given in time, waited in its socket: the call ends with that
// answer, not a timeout that would call the backend again. The stall is a busy loop, which
// holds this whole process (the backend here included) as a stopped worker is held.

import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { startLegacySim } from "../../legacy-sim/legacy-sim";
import { Deadline } from "../../shared/runtime/stall-aware-deadline";
import { createTranslator as createRest } from "../../worker/translators/rest-json";
import { createTranslator as createSoap } from "../../worker/translators/soap";
import { SOAP11_NS } from "../../worker/translators/soap-xml";
import {
  BackendTimeoutError,
  type Translator,
  type TranslatorBackend,
  type TranslatorCall,
} from "../../worker/translators/translator";
import { requestMessage } from "../support/messages";
import { rejectionOf } from "../support/rejection";
import { STALL_TIMINGS, standStill } from "../support/stand-still";

const {
  timeoutMs: TIMEOUT_MS,
  answerMs: ANSWER_MS,
  pastDeadlineMs: PAST_DEADLINE_MS,
} = STALL_TIMINGS;

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

const SOAP_REQUEST = `<?xml version="1.0" encoding="utf-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP11_NS}" xmlns:tns="http://legacy.sluice.example/"><SOAP-ENV:Body><tns:getState><request>x</request></tns:getState></SOAP-ENV:Body></SOAP-ENV:Envelope>`;

describe("a call whose answer came in time, read by a worker that stood still past its deadline", function () {
  let server: Server;
  let url: string;
  let wsdl = "";
  let answer: Answer;
  const calls: string[] = [];
  const translators: Translator[] = [];

  before(async () => {
    // The simulator's WSDL, pointing at this server instead.
    const sim = await startLegacySim({ port: 0 });
    const text = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.method === "GET") {
          res.writeHead(200, { "content-type": "text/xml" }).end(wsdl);
          return;
        }
        calls.push(String(req.headers["idempotency-key"]));
        answer(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    wsdl = text.replace(sim.url, url);
  });

  beforeEach(() => {
    calls.length = 0;
  });

  afterEach(async () => {
    await Promise.all(translators.splice(0).map((t) => t.close?.()));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function backend(options: Record<string, unknown> = {}): TranslatorBackend {
    return { name: "legacy", url, timeoutMs: TIMEOUT_MS, options };
  }

  function rest(): Translator {
    const translator = createRest(backend());
    translators.push(translator);
    return translator;
  }

  function soap(): Translator {
    const translator = createSoap(backend());
    translators.push(translator);
    return translator;
  }

  /** The call as the worker makes it: under the worker's own deadline, handed over. */
  function workerCall(key: string): { call: TranslatorCall; deadline: Deadline } {
    const deadline = new Deadline(new AbortController().signal, TIMEOUT_MS);
    return {
      deadline,
      call: { signal: deadline.signal, deadline, idempotencyKey: key, attempt: 1 },
    };
  }

  /**
   * Answers `body` after `afterMs`, then stands still until `pastMs` after the call's deadline.
   * The stall runs in the loop's check phase, as a stopped worker's does in its poll: when it
   * ends, the loop's timers run before the next poll reads the answer from the socket.
   */
  function answerThenStall(
    type: string,
    body: string | Buffer,
    deadlineAt: number,
    {
      afterMs = ANSWER_MS,
      pastMs = PAST_DEADLINE_MS,
      beforeDeadlineMs,
    }: { afterMs?: number; pastMs?: number; beforeDeadlineMs?: number } = {},
  ): Answer {
    return (_req, res) => {
      // Timed from the deadline itself when the answer is to come just before it: timed from
      // the request's arrival, a loaded machine's delay in getting it here moved the answer
      // past the deadline, and the test failed for the machine, not for the worker.
      const inMs =
        beforeDeadlineMs === undefined
          ? afterMs
          : Math.max(0, deadlineAt - beforeDeadlineMs - performance.now());
      setTimeout(
        () =>
          setImmediate(() => {
            // Small answers reach the worker's socket at once; a large one partly, the rest
            // waiting (here, in this server's socket) for the worker to read.
            res.writeHead(200, { "content-type": type }).end(body);
            standStill(deadlineAt + pastMs);
          }),
        inMs,
      );
    };
  }

  async function warm(translator: Translator, request = requestMessage()): Promise<void> {
    answer = (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("warm");
    if (request.protocol === "soap") {
      answer = (_req, res) =>
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" }).end(soapAnswer("warm"));
    }
    await translator.call(request, {
      signal: new AbortController().signal,
      idempotencyKey: "w",
      attempt: 1,
    });
    calls.length = 0;
  }

  it("rest-json under the worker's deadline: the answer, not a timeout", async () => {
    const translator = rest();
    await warm(translator);
    const { call, deadline } = workerCall("k-rest");
    answer = answerThenStall("application/json", '{"done":true}', performance.now() + TIMEOUT_MS);
    try {
      const [response] = await translator.call(requestMessage(), call);
      expect(response.status).to.equal(200);
      expect(response.body).to.equal('{"done":true}');
      expect(deadline.timedOut).to.equal(false);
    } finally {
      deadline.dispose();
    }
    expect(calls).to.deep.equal(["k-rest"]);
  });

  it("rest-json timing the call itself: the answer, also when the stall ends just past the deadline", async () => {
    const translator = rest();
    await warm(translator);
    for (const pastMs of [PAST_DEADLINE_MS, 5]) {
      answer = answerThenStall("text/plain", "in time", performance.now() + TIMEOUT_MS, {
        pastMs,
      });
      const [response] = await translator.call(requestMessage(), {
        signal: new AbortController().signal,
        idempotencyKey: "k-own",
        attempt: 1,
      });
      expect(response.body).to.equal("in time");
    }
    expect(calls).to.deep.equal(["k-own", "k-own"]);
  });

  it("rest-json: an answer that came in the last moments before the deadline", async () => {
    const translator = rest();
    await warm(translator);
    const { call, deadline } = workerCall("k-late");
    answer = answerThenStall("text/plain", "just in time", performance.now() + TIMEOUT_MS, {
      beforeDeadlineMs: 100,
    });
    try {
      const [response] = await translator.call(requestMessage(), call);
      expect(response.body).to.equal("just in time");
    } finally {
      deadline.dispose();
    }
    expect(calls).to.deep.equal(["k-late"]);
  });

  it("rest-json: an answer of many reads, sent before the stall, is read whole", async () => {
    const translator = rest();
    await warm(translator);
    const body = Buffer.alloc(4 * 1024 * 1024, "a");
    const { call, deadline } = workerCall("k-large");
    answer = answerThenStall("application/octet-stream", body, performance.now() + TIMEOUT_MS);
    try {
      const [response] = await translator.call(requestMessage(), call);
      expect(response.status).to.equal(200);
      expect(Buffer.from(response.body, "base64").length).to.equal(body.length);
    } finally {
      deadline.dispose();
    }
  });

  it("soap under the worker's deadline: the answer, not a timeout", async () => {
    const translator = soap();
    const request = soapRequest();
    await warm(translator, request);
    const { call, deadline } = workerCall("k-soap");
    answer = answerThenStall(
      "text/xml; charset=utf-8",
      soapAnswer("in time"),
      performance.now() + TIMEOUT_MS,
    );
    try {
      const [response] = await translator.call(request, call);
      expect(response.status).to.equal(200);
      expect(response.body).to.contain("<response>in time</response>");
    } finally {
      deadline.dispose();
    }
    expect(calls).to.deep.equal(["k-soap"]);
  });

  it("a backend that does not answer still times out after a stall", async () => {
    for (const make of [rest, soap]) {
      const translator = make();
      const request = make === soap ? soapRequest() : requestMessage();
      await warm(translator, request);
      const deadlineAt = performance.now() + TIMEOUT_MS;
      // Never answered: the call's end closes the connection.
      answer = () =>
        setTimeout(() => setImmediate(() => standStill(deadlineAt + PAST_DEADLINE_MS)), ANSWER_MS);
      const { call, deadline } = workerCall("k-silent");
      try {
        const error = await rejectionOf(translator.call(request, call));
        expect(error).to.be.instanceOf(BackendTimeoutError);
        expect((error as Error).message).to.contain(`timed out after ${TIMEOUT_MS} ms`);
        expect(deadline.timedOut).to.equal(true);
        expect(calls).to.deep.equal(["k-silent"]);
      } finally {
        deadline.dispose();
      }
    }
  });
});

function soapAnswer(text: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="http://legacy.sluice.example/"><soap:Body><tns:getStateResponse><response>${text}</response></tns:getStateResponse></soap:Body></soap:Envelope>`;
}

function soapRequest() {
  return requestMessage({
    service: "getState",
    protocol: "soap",
    method: "POST",
    contentType: "text/xml; charset=utf-8",
    body: SOAP_REQUEST,
    soap: {
      headers: [],
      bodyNamespace: "http://legacy.sluice.example/",
      bodyXml: "<tns:getState><request>x</request></tns:getState>",
      envelopePrefix: "SOAP-ENV",
    },
  });
}
