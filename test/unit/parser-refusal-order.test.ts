// The answer to what Node's parser refuses goes after every answer owed before it on the
// connection: a request pipelined behind one not answered yet whose own body is refused (here
// a chunk size that is not hex, which cuts it as a body not sent in time does) is answered
// once the earlier answer is sent, on a plain server with the admin port's refusals.

import { expect } from "chai";
import http, { type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { answerAdminRawRefusals } from "../../shared/observability/admin-raw-refusals";

describe("answerParserErrors on a pipelined connection", () => {
  let server: http.Server;

  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Starts `server`, writes `bytes` on one connection, and resolves with all it was sent. */
  async function exchange(bytes: string): Promise<string> {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return new Promise<string>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("error", () => resolve(text));
      socket.on("close", () => resolve(text));
      socket.write(bytes);
    });
  }

  it("writes the refusal of a cut request after the answer before it, where it was written at once and that answer lost", async () => {
    let first: ServerResponse | undefined;
    server = http.createServer((req, res) => {
      // The first request is answered only once the second one is refused (a slow handler).
      if (req.url === "/first") first = res;
    });
    answerAdminRawRefusals(server);
    server.on("clientError", () => first?.end("first answer"));
    const received = await exchange(
      "GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" +
        "POST /second HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );

    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses, received).to.deep.equal([200, 400]);
    expect(received).to.match(/\r\n\r\nfirst answer/);
    expect(received).to.match(/"type":"InvalidRequest"/);
  });

  it("answers at once when no answer is owed before the cut request", async () => {
    server = http.createServer(() => undefined);
    answerAdminRawRefusals(server);
    const received = await exchange(
      "POST /only HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    expect(received).to.match(/^HTTP\/1\.1 400 /);
  });
});
