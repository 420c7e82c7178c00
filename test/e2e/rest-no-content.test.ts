// An answer without content, as a REST caller reads it: a backend's 204, or an empty 200 that
// names no type, reaches the sync caller without a Content-Type and the status document with an
// empty contentType (RFC 9110 §8.3, §15.3.5); a body without a type stays application/octet-stream.

import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { call, Harness } from "../support/harness";

describe("REST answers without content (a local rest-json backend)", function () {
  this.timeout(30_000);
  let backend: Server;
  const harness = Harness.suite({
    sim: false,
    config: async () => {
      backend = createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          if (req.url === "/deleted") res.writeHead(204).end();
          else if (req.url === "/empty") res.writeHead(200, { "content-length": "0" }).end();
          else res.writeHead(200).end("raw");
        });
      });
      backend.listen(0, "127.0.0.1");
      await once(backend, "listening");
      return {
        services: {
          records: { protocols: ["rest"], reply: { mode: "sync", wait: "5s" }, backend: "api" },
        },
        backends: {
          api: {
            translator: "rest-json",
            url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}`,
          },
        },
      };
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  after(() => {
    backend?.closeAllConnections();
    backend?.close();
  });

  for (const [path, status, type] of [
    ["/deleted", 204, null],
    ["/empty", 200, null],
    ["/raw", 200, "application/octet-stream"],
  ] as const) {
    it(`${path}: a ${status} ${type ? `with a body is ${type}` : "without content has no content type"}, to the sync caller and in the status document`, async () => {
      const { url } = harness.roles.sluice;
      const answer = await call(`${url}/rest/records${path}`, { method: "DELETE" });
      expect(answer.status).to.equal(status);
      expect(answer.headers.get("content-type")).to.equal(type);
      const id = answer.headers.get("x-sluice-id");
      const document = await call(`${url}/messages/${id}`);
      expect(document.status).to.equal(200);
      const [response] = (document.json as { responses: Array<{ contentType: string }> }).responses;
      expect(response.contentType).to.equal(type ?? "");
    });
  }
});
