// The answer to what Node's parser refuses goes after every answer owed before it on the
// connection: a request pipelined behind one not answered yet whose own body is refused (here
// a chunk size that is not hex, which cuts it as a body not sent in time does) is answered
// once the earlier answer is sent, on a plain server with the admin port's refusals.

import { expect } from "chai";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { answerAdminRawRefusals } from "../../shared/observability/admin-raw-refusals";
import { PipelinedRequests } from "../../shared/protocol/pipelined-requests";

describe("answerParserErrors on a pipelined connection", () => {
  let server: http.Server;

  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /**
   * Starts `server`, writes `bytes` on one connection, and resolves with all it was sent;
   * `more` is written when the server asks (`writeMore`).
   */
  let writeMore = (): void => undefined;
  async function exchange(bytes: string, more = ""): Promise<string> {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return new Promise<string>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("error", () => resolve(text));
      socket.on("close", () => resolve(text));
      writeMore = () => void socket.write(more);
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

  /**
   * `/first`, held until `/late` is read whole, and the start of `/late`, whose rest is sent
   * once the parser refused it (not sent in time); each request served in its turn, as both
   * ports serve them. Resolves with all the connection was sent.
   */
  async function lateAfterRefusal(start: string, rest: string): Promise<string> {
    let first: ServerResponse | undefined;
    let late: IncomingMessage | undefined;
    const pipelined = new PipelinedRequests({
      readWhileWaiting: 16,
      maxPerConnection: 100,
      maxTotal: 100,
      maxUnparsedBytes: 65_536,
    });
    server = http.createServer(
      { headersTimeout: 200, requestTimeout: 400, connectionsCheckingInterval: 50 },
      (req, res) => {
        if (req.url === "/first") first = res;
        else late = req;
        void pipelined.inTurn(req, res, async () => {
          if (req.url === "/first") return;
          req.resume();
          req.on("end", () => res.end("late answer"));
        })();
      },
    );
    answerAdminRawRefusals(server);
    server.on("clientError", () => {
      writeMore();
      // The answer before is sent only once the late request is read whole (Node parses on).
      const whole = (): void => {
        if (late?.complete) first?.end("first answer");
        else if (first?.destroyed === false) setTimeout(whole, 10);
      };
      whole();
    });
    return exchange(`GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${start}`, rest);
  }

  function expectFirstThenRefusal(received: string): void {
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses, received).to.deep.equal([200, 408]);
    expect(received).to.match(/\r\n\r\nfirst answer/);
    expect(received).to.not.match(/late answer/);
  }

  it("serves no request whose head is read after the refusal: the answer before, the refusal, the close", async () => {
    // Its head not sent in time, then whole: it was waited for as if owed before the refusal,
    // served, and the refusal written after its answer (two answers to one request); its body
    // never whole, the refusal never came and the connection closed with the request unanswered.
    expectFirstThenRefusal(
      await lateAfterRefusal(
        "POST /late HTTP/1.1\r\nHost: 12",
        "7.0.0.1\r\nContent-Length: 4\r\n\r\nlate",
      ),
    );
  });

  it("refuses a cut request whose body comes whole after the refusal, behind the answer before", async () => {
    expectFirstThenRefusal(
      await lateAfterRefusal(
        "POST /late HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nla",
        "te",
      ),
    );
  });
});
