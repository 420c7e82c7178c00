import { expect } from "chai";
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import { answerParserErrors } from "../../shared/protocol/parser-refusal";
import { closeSilentConnections } from "../../shared/protocol/silent-connections";

/** Long against the test's own pauses, so a loaded machine's stalls do not pass for silence. */
const SILENCE_MS = 1_000;

/** A server that answers once the test says so, with the silent-connection bound on it. */
async function server(): Promise<{ server: http.Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const made = http.createServer((req, res) => {
    req.resume();
    // `/wait` is never answered, like a sync caller waiting for its backend.
    if (req.url !== "/wait") req.on("end", () => res.end("ok"));
  });
  made.keepAliveTimeout = 60_000;
  made.on("connection", (socket: Socket) => sockets.push(socket));
  closeSilentConnections(made, SILENCE_MS, "connection");
  await new Promise<void>((resolve) => made.listen(0, "127.0.0.1", resolve));
  return { server: made, port: (made.address() as AddressInfo).port, sockets };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" }, () => resolve(socket));
    socket.on("error", reject);
  });
}

const closed = (socket: net.Socket): Promise<void> =>
  new Promise((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("closeSilentConnections", () => {
  let made: Awaited<ReturnType<typeof server>>;
  beforeEach(async () => (made = await server()));
  afterEach(async () => {
    made.server.closeAllConnections();
    await new Promise((resolve) => made.server.close(resolve));
  });

  it("closes a connection that sends nothing", async () => {
    const socket = await connect(made.port);
    await closed(socket);
  });

  it("keeps a connection whose request arrives slowly, and one that has sent its request", async () => {
    const dribbling = await connect(made.port);
    const answered = await connect(made.port);
    answered.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => answered.once("data", resolve));
    // The dribbling connection sends a piece every tenth of the bound; both outlive three.
    for (let i = 0; i < 30; i += 1) {
      dribbling.write(i === 0 ? "GET / HTTP/1.1\r\n" : `X-Piece-${i}: 1\r\n`);
      await pause(SILENCE_MS / 10);
    }
    expect(dribbling.destroyed, "dribbling").to.equal(false);
    expect(answered.destroyed, "answered").to.equal(false);
    dribbling.write("\r\n");
    await new Promise((resolve) => dribbling.once("data", resolve));
    dribbling.destroy();
    answered.destroy();
  });

  // A sync caller's connection lives as long as it waits: a timer object kept on it is memory
  // of every waiting caller.
  it("leaves no timer on a waiting caller's connection", async () => {
    const requested = new Promise((resolve) => made.server.once("request", resolve));
    const socket = await connect(made.port);
    socket.write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    await requested;
    const [serverSide] = made.sockets;
    const held = Object.getOwnPropertySymbols(serverSide).map(
      (symbol) => (serverSide as unknown as Record<symbol, unknown>)[symbol],
    );
    const timers = held.filter(
      (value) => typeof value === "object" && value?.constructor?.name === "Timeout",
    );
    expect(timers).to.have.length(0);
    socket.destroy();
  });

  // Each waiting sync caller's answer kept a closure and a `once` wrapper of its own here.
  it("watches every answer with one shared listener, none made per request", async () => {
    const answers: http.ServerResponse[] = [];
    made.server.on("request", (_req, res: http.ServerResponse) => answers.push(res));
    const requested = new Promise<void>((resolve) =>
      made.server.on("request", () => answers.length === 2 && resolve()),
    );
    const first = await connect(made.port);
    const second = await connect(made.port);
    first.write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    second.write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    await requested;
    const [a, b] = answers.map((res) => res.rawListeners("finish"));
    expect(
      a.filter((fn) => "listener" in fn),
      "once wrappers",
    ).to.have.length(0);
    const shared = a.filter((fn) => b.includes(fn));
    expect(shared, "listeners shared by both answers").to.have.length.above(0);
    first.destroy();
    second.destroy();
  });

  // Node emits a pipelined request's "request" as soon as it is parsed, before the answer ahead
  // of it is sent: that answer's end is no pause between requests while this one waits.
  it("leaves open a connection whose pipelined request waits after the answer ahead of it", async () => {
    made.server.keepAliveTimeout = 100;
    made.server.headersTimeout = 200;
    const socket = await connect(made.port);
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => socket.once("data", resolve));
    // Past the bound between requests (100 + 200 + 2000 ms) and a sweep or two.
    await Promise.race([closed(socket), pause(4_000)]);
    expect(socket.destroyed, "closed while its second request waits").to.equal(false);
    socket.destroy();
  });

  it("still watches a kept-alive connection after its answer", async function () {
    // Closed within the test's time, whenever the sweep runs: a bound of the test's own (8 s)
    // and a check of the wall clock against it were a race a loaded machine could lose.
    this.timeout(30_000);
    const socket = await connect(made.port);
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => socket.once("data", resolve));
    made.server.keepAliveTimeout = 100;
    made.server.headersTimeout = 200;
    // Only CRLFs from now on: Node's idle bound is reset by them, the one here is not.
    const crlf = setInterval(() => socket.writable && socket.write("\r\n"), 50);
    try {
      await closed(socket);
    } finally {
      clearInterval(crlf);
    }
    expect(socket.destroyed, "closed by the bound between requests").to.equal(true);
  });

  it("closes a silent connection unanswered when Node's headers deadline finds it first", async function () {
    this.timeout(30_000);
    // Node's deadline counts a new connection's silence from its opening, with the same bound
    // as the sweep on both ports, and answered 408 whenever its check ran first (a loaded
    // machine's timers): here its bound is the shorter, so it always does.
    const refusing = http.createServer({ connectionsCheckingInterval: 100 }, (_req, res) =>
      res.end(),
    );
    refusing.headersTimeout = 300;
    answerParserErrors(refusing, () =>
      Buffer.from("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"),
    );
    closeSilentConnections(refusing, 60_000, "connection");
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    const port = (refusing.address() as AddressInfo).port;
    const read = async (socket: net.Socket): Promise<string> => {
      let received = "";
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
      await closed(socket);
      return received;
    };
    try {
      const silent = await connect(port);
      expect(await read(silent), "silent since it opened").to.equal("");
      // A head begun and then stalled is still answered.
      const stalled = await connect(port);
      stalled.write("GET / HTTP/1.1\r\n");
      expect(await read(stalled), "head begun").to.match(/^HTTP\/1\.1 408 /);
    } finally {
      refusing.closeAllConnections();
      await new Promise((resolve) => refusing.close(resolve));
    }
  });
});
