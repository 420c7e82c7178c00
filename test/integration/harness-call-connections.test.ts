// The test harness's own promise: `call` never sends on a kept-alive connection. A server closes
// an idle kept-alive connection after its keep-alive timeout (5 s on Sluice's ports); on a loaded
// machine a test's event loop stalls (a command run with spawnSync, a key generated, a document
// validated) or its idle timer runs late, and a request sent on such a connection just as the
// server closes it fails with "other side closed", whatever the test was about.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Socket } from "node:net";
import { call } from "../support/harness";

describe("the harness's call and kept-alive connections", function () {
  this.timeout(20_000);
  let server: http.Server;
  let url: string;

  before(async () => {
    const answered = new WeakSet<Socket>();
    server = http.createServer((request, response) => {
      // A second request on a connection stands for one that arrived as the server closed it
      // for idling: the connection ends unanswered, as it would then.
      if (answered.has(request.socket)) {
        request.socket.destroy();
        return;
      }
      answered.add(request.socket);
      response.end('{"ok":true}');
    });
    // As Sluice's ports announce it (Keep-Alive: timeout=5): a client may keep the connection.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("sends each call on a connection of its own", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call(url, { client: null, body: "{}" })).json).to.deep.equal({ ok: true });
    }
  });
});
