// Off loopback, adapter.hosts and admin.hosts name the hosts each port answers to: a request
// whose Host is another name (a page re-pointing its own name at the port: DNS rebinding) is
// refused 421, while an IP literal, which is never rebound, is served.

import { expect } from "chai";
import http from "node:http";
import net from "node:net";
import { Harness, type SluiceProcess } from "../support/harness";

const CLIENT = "EE/GOV/70000001/case-app";

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** A request to 127.0.0.1:`port` naming `host` in its Host header. */
function request(port: number, method: string, host: string, path: string, body = "", type = "") {
  return new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string> = { host, "x-road-client": CLIENT };
    if (type) headers["content-type"] = type;
    const req = http.request(
      { host: "127.0.0.1", port, path, method, headers, agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers["content-type"]),
            body: text,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * A request (HTTP/1.1 unless `version` says) without any Host line (which http.request always
 * adds), written as is;
 * its status line and the answer as text, read until the port closes the connection.
 */
function withoutHost(port: number, method: string, path: string, version = "1.1"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("error", reject);
    socket.on("close", () =>
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0),
        type: /\r\ncontent-type: ([^\r]*)/i.exec(received)?.[1] ?? "",
        body: received,
      }),
    );
    const body = method === "POST" ? "{}" : "";
    socket.write(
      `${method} ${path} HTTP/${version}\r\nContent-Type: application/json\r\nX-Road-Client: ${CLIENT}\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
    );
  });
}

/** `text` written as is on a new connection; the status of the answer read until it closes. */
function rawStatus(port: number, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0)));
    socket.write(text);
  });
}

describe("ports bound off loopback with the names they answer to", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let adapter: SluiceProcess;

  before(async () => {
    harness.writeConfig({
      adapter: {
        host: "0.0.0.0",
        port: 0,
        hosts: ["sluice.example", "Sluice-Adapter."],
        publicUrl: "https://sluice.internal:8443",
      },
      admin: {
        host: "0.0.0.0",
        port: 0,
        token: harness.adminToken,
        hosts: ["metrics.example"],
      },
      services: {
        echo: { protocols: ["rest", "soap"], reply: { mode: "ack" }, backend: "legacy" },
      },
      backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    });
    adapter = await harness.spawn("adapter");
  });
  after(() => harness.cleanup());

  const rest = (host: string) =>
    request(adapter.port, "POST", host, "/rest/echo", "{}", "application/json");

  it("service port: serves a listed name, publicUrl's host and any IP literal", async () => {
    for (const host of [
      "sluice.example",
      `SLUICE.example.:${adapter.port}`,
      "sluice-adapter:8080",
      "sluice.internal:8443",
      `127.0.0.1:${adapter.port}`,
      "10.20.30.40",
      `[::1]:${adapter.port}`,
    ]) {
      const answer = await rest(host);
      expect(answer.status, `${host}: ${answer.body}`).to.equal(202);
    }
  });

  it("service port: refuses any other name with 421 InvalidHeader, a SOAP fault on /soap", async () => {
    for (const host of ["evil.example", "sluice.example.evil.example", "localhost:8080"]) {
      const answer = await rest(host);
      expect(answer.status, host).to.equal(421);
      const json = JSON.parse(answer.body) as { type: string; message: string };
      expect(json.type).to.equal("InvalidHeader");
      expect(json.message).to.include("adapter.hosts");
    }
    const soap = await request(adapter.port, "POST", "evil.example", "/soap", "<x/>", "text/xml");
    expect(soap.status).to.equal(421);
    expect(soap.type).to.include("text/xml");
    expect(soap.body).to.include("<faultcode>Client.InvalidHeader</faultcode>");
  });

  it("both ports: an absolute-form target's host is checked, not the Host header (RFC 9112 §3.2.2)", async () => {
    const call = (target: string, host: string) =>
      rawStatus(
        adapter.port,
        `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
          `X-Road-Client: ${CLIENT}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      );
    expect(await call("http://evil.example/rest/echo", "sluice.example")).to.equal(421);
    expect(await call("http://sluice.example/rest/echo", "evil.example")).to.equal(202);
    const probe = (target: string, host: string) =>
      rawStatus(
        adapter.adminPort,
        `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
    expect(await probe("http://evil.example/metrics", "metrics.example")).to.equal(421);
    expect(await probe("http://metrics.example/metrics", "evil.example")).to.not.equal(421);
  });

  it("service port: a request without Host is still 400", async () => {
    const answer = await withoutHost(adapter.port, "POST", "/rest/echo");
    expect(answer.status).to.equal(400);
    expect(answer.body).to.include('"type":"InvalidHeader"');
  });

  it("admin port: serves a listed name and any IP literal, refuses others with 421 in JSON", async () => {
    for (const host of ["metrics.example", "Metrics.Example.:9090", "10.0.0.7:9090", "[::1]"]) {
      const answer = await request(adapter.adminPort, "GET", host, "/metrics");
      expect(answer.status, host).to.equal(200);
    }
    for (const host of ["evil.example", "localhost", "sluice.example"]) {
      const answer = await request(adapter.adminPort, "GET", host, "/metrics");
      expect(answer.status, host).to.equal(421);
      expect(answer.type).to.include("application/json");
      const json = JSON.parse(answer.body) as { type: string; message: string };
      expect(json.type).to.equal("InvalidHeader");
      expect(json.message).to.include("admin.hosts");
    }
  });

  it("admin port: an HTTP/1.0 request without Host is served, as on the service port", async () => {
    const probe = await withoutHost(adapter.adminPort, "GET", "/metrics", "1.0");
    expect(probe.status, probe.body).to.equal(200);
    const call = await withoutHost(adapter.port, "POST", "/rest/echo", "1.0");
    expect(call.status, call.body).to.equal(202);
  });

  it("admin port: a request without Host is still 400", async () => {
    const answer = await withoutHost(adapter.adminPort, "GET", "/metrics");
    expect(answer.status).to.equal(400);
    expect(answer.body).to.include('"type":"InvalidHeader"');
  });
});
