// The test harness's own promise: `call`, and Node's HTTP client and the `soap` package's clients
// under freshConnectionPerNodeRequest, never send on a kept-alive connection. A server closes an
// idle kept-alive connection after its keep-alive timeout (5 s on Sluice's ports); on a loaded
// machine a test's event loop stalls (a command run with spawnSync, a key generated, a document
// validated) or its idle timer runs late, and a request sent on such a connection just as the
// server closes it fails with "other side closed" or "socket hang up", whatever the test was about.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Socket } from "node:net";
import * as soap from "soap";
import { buildWsdl, DEFAULT_WSDL_NAMESPACE } from "../../adapter/soap/wsdl";
import { freshConnectionPerNodeRequest } from "../support/fresh-connections";
import { call } from "../support/harness";

/**
 * A server that answers one request per connection with what `answer` gives and ends any later
 * request on it unanswered, as a connection ends that the server closed for idling just as the
 * request arrived.
 */
function oneRequestPerConnection(answer: (request: http.IncomingMessage) => string): {
  url: () => string;
} {
  let server: http.Server;
  let url = "";
  before(async () => {
    const answered = new WeakSet<Socket>();
    server = http.createServer((request, response) => {
      if (answered.has(request.socket)) {
        request.socket.destroy();
        return;
      }
      answered.add(request.socket);
      request.resume();
      request.on("end", () => response.end(answer(request)));
    });
    // As Sluice's ports announce it (Keep-Alive: timeout=5): a client may keep the connection.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: () => url };
}

describe("the harness's call and kept-alive connections", function () {
  this.timeout(20_000);
  const server = oneRequestPerConnection(() => '{"ok":true}');

  it("sends each call on a connection of its own", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call(`${server.url()}/`, { client: null, body: "{}" })).json).to.deep.equal({
        ok: true,
      });
    }
  });
});

describe("Node's HTTP client and soap clients under freshConnectionPerNodeRequest", function () {
  this.timeout(20_000);
  freshConnectionPerNodeRequest();
  const server = oneRequestPerConnection((request) =>
    request.method === "GET"
      ? buildWsdl([{ serviceCode: "getState" }], `${server.url()}/soap`)
      : `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><t:getStateResponse xmlns:t="${DEFAULT_WSDL_NAMESPACE}"/></e:Body></e:Envelope>`,
  );

  it("sends each http.get on a connection of its own", async () => {
    for (let i = 0; i < 3; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get(`${server.url()}/`, (response) => {
            response.resume();
            response.on("end", () => resolve(response.statusCode ?? 0));
          })
          .on("error", reject);
      });
      expect(status).to.equal(200);
    }
  });

  it("reads the WSDL and sends each soap call on a connection of its own", async () => {
    const client = await soap.createClientAsync(`${server.url()}/soap?wsdl`);
    for (let i = 0; i < 2; i++) {
      const [, raw] = (await client.getStateAsync({})) as [unknown, string];
      expect(raw).to.contain("getStateResponse");
    }
  });
});
