// The SOAP status operation's answer for a message whose stored body XML cannot carry as text.

import { expect } from "chai";
import type { Logger } from "pino";
import { soapStatusContent } from "../../adapter/soap/soap-status";
import { childElements, directText, parseXml } from "../../adapter/soap/safe-xml";
import type { StatusRouteDeps } from "../../adapter/status-route";
import type { Transaction, TransactionStore } from "../../shared/store/transaction-store";
import { TEST_CLIENT, transactionMeta } from "../support/messages";

describe("SOAP status operation", () => {
  it("a stored text body with a character XML cannot carry is sent as base64, byte for byte", async () => {
    const body = "page 1\u000cpage 2 \u001b[1m";
    const tx: Transaction = {
      ...transactionMeta({ replyMode: "callback" }),
      state: "completed",
      delivery: "delivered",
      updatedAt: Date.now(),
      history: [],
      responses: [
        {
          seq: 1,
          final: true,
          status: 200,
          contentType: "text/plain",
          body,
          bodyEncoding: "utf8",
          outcome: "completed",
          producedAt: Date.now(),
        },
      ],
      error: null,
      processedAt: Date.now(),
      published: true,
      replayOf: null,
      replayedAs: null,
    };
    const deps = {
      store: { get: async () => tx } as unknown as TransactionStore,
      log: {} as Logger,
      pollAfter: () => 1,
    } satisfies StatusRouteDeps;
    const { innerXml } = await soapStatusContent(deps, TEST_CLIENT, tx.id);
    const responses = childElements(parseXml(`<r>${innerXml}</r>`)).find(
      (e) => e.local === "responses",
    );
    const response = childElements(responses!)[0];
    const fields = Object.fromEntries(childElements(response).map((e) => [e.local, directText(e)]));
    expect(fields.bodyEncoding).to.equal("base64");
    expect(Buffer.from(fields.body, "base64").toString("utf8")).to.equal(body);
  });

  it("headers go as name and values; a name without values and an empty set are left out", async () => {
    const response = {
      seq: 1,
      final: false,
      status: 200,
      contentType: "text/plain",
      body: "",
      bodyEncoding: "utf8" as const,
      outcome: "completed" as const,
      producedAt: Date.now(),
    };
    const tx: Transaction = {
      ...transactionMeta({ replyMode: "callback" }),
      state: "completed",
      delivery: "delivered",
      updatedAt: Date.now(),
      history: [{ state: "accepted", at: Date.UTC(2026, 0, 1) }],
      responses: [
        { ...response, headers: { etag: '"v1"', "set-cookie": ["a=1", "b=2"], "x-none": [] } },
        { ...response, seq: 2, headers: { "x-none": [] } },
        { ...response, seq: 3, final: true, headers: {} },
      ],
      error: null,
      processedAt: Date.now(),
      published: true,
      replayOf: null,
      replayedAs: null,
    };
    const deps = {
      store: { get: async () => tx } as unknown as TransactionStore,
      log: {} as Logger,
      pollAfter: () => 1,
    } satisfies StatusRouteDeps;
    const { innerXml } = await soapStatusContent(deps, TEST_CLIENT, tx.id);
    expect(innerXml).to.include(
      "<history><entry><state>accepted</state><at>2026-01-01T00:00:00.000Z</at></entry></history>",
    );
    expect(innerXml).to.include(
      "<headers><header><name>etag</name><value>&quot;v1&quot;</value></header>" +
        "<header><name>set-cookie</name><value>a=1</value><value>b=2</value></header></headers>",
    );
    expect(innerXml.match(/<headers>/g)).to.have.length(1);
  });
});
