// The cancel route's own notice, in this process on the real broker and Redis: with no worker
// at all, a cancel reaches the callback and the hub listener at once, and the worker's later
// repeat of the same notice is not told a second time.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Router from "@koa/router";
import Koa from "koa";
import pino from "pino";
import { cancelRoute } from "../../adapter/status-route";
import { startCallbackDelivery } from "../../response-worker/callback-delivery";
import { startResponseWorker } from "../../response-worker/response-worker-role";
import { loadConfig } from "../../shared/config/config";
import { HubListeners } from "../../shared/store/hub-listeners";
import { startRuntime, type Role, type Runtime } from "../../shared/runtime/runtime";
import { StateNotices } from "../../shared/protocol/state-notice";
import { CallbackReceiver, type ReceivedCall } from "../integration/callback-receiver";
import { call, eventually, Harness } from "../support/harness";
import { drainRoles } from "../../shared/runtime/shutdown-deadline";

/** The real notice publisher, counting what it publishes. */
class CountedNotices extends StateNotices {
  published = 0;
  override async publish(...args: Parameters<StateNotices["publish"]>) {
    this.published += 1;
    return super.publish(...args);
  }
}

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ALICE = "EE/GOV/70000001/alice";

describe("cancel notice from the cancel route (no worker running)", function () {
  this.timeout(30_000);
  const harness = new Harness();
  const log = pino({ level: "silent" });
  let receiver: CallbackReceiver;
  let runtime: Runtime;
  let roles: Role[] = [];
  let server: http.Server;
  let notices: CountedNotices;
  let baseUrl = "";

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: false });
    const config = loadConfig(
      harness.writeConfig({
        services: { notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "b" } },
        backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
        callbacks: receiver.loopbackCallbacks(SECRET),
      }),
    );
    runtime = await startRuntime(config, log, 0);
    const callbacks = await startCallbackDelivery(runtime);
    const responses = await startResponseWorker(
      runtime,
      [(tx, response) => callbacks.onResponse(tx, response)],
      [(tx, eventKey) => callbacks.onStateChange(tx, eventKey)],
    );
    roles = [callbacks, responses];
    await new HubListeners(runtime.redis, config.prefix).add(
      ALICE,
      receiver.url("/events/alice"),
      "",
    );
    notices = new CountedNotices(
      runtime.broker,
      runtime.broker.channel("publisher"),
      runtime.names,
      log,
    );
    const router = new Router();
    router.delete(
      "/messages/:id",
      cancelRoute({ store: runtime.store, log, pollAfter: () => 1, notices }),
    );
    const app = new Koa();
    app.use(router.routes());
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await drainRoles(roles, 5_000);
    await runtime?.close();
    await receiver.close();
    await harness.cleanup();
  });

  const eventStates = (id: string) =>
    receiver.calls
      .filter((c) => c.path === "/events/alice")
      .map((c) => JSON.parse(c.body))
      .filter((b) => b.correlationId === id)
      .map((b) => b.event.message.state as string)
      .sort();
  const callbacksFor = (path: string): ReceivedCall[] =>
    receiver.calls.filter((c) => c.path === path);

  /** A callback-mode message of ALICE's, accepted and not taken by a worker; its id. */
  async function accepted(callbackPath: string): Promise<string> {
    const id = randomUUID();
    await runtime.store.create({
      id,
      xroadId: null,
      service: "notify",
      backend: "b",
      client: ALICE,
      protocol: "rest",
      replyMode: "callback",
      owner: null,
      callback: receiver.url(callbackPath),
      createdAt: Date.now(),
      expiresAt: null,
    });
    return id;
  }

  it("tells the callback and the listener of a cancel at once, and only once", async () => {
    const id = await accepted("/hooks/notice");

    const answer = await call(`${baseUrl}/messages/${id}`, { method: "DELETE", client: ALICE });
    expect(answer.status).to.equal(200);
    expect(answer.json.state).to.equal("cancelled");

    await eventually(
      async () =>
        callbacksFor("/hooks/notice").length === 1 && eventStates(id).length === 2
          ? true
          : undefined,
      10_000,
      "the cancel's callback and events",
    );
    expect(eventStates(id)).to.deep.equal(["accepted", "cancelled"]);
    const [callback] = callbacksFor("/hooks/notice");
    expect(callback.headers["webhook-id"]).to.equal(`msg_${id}.cancelled`);
    expect(JSON.parse(callback.body)).to.deep.include({ id, state: "cancelled" });

    // A worker that later skips the message repeats the notice; nobody hears of it twice.
    await notices.publish(id, "cancelled");
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(callbacksFor("/hooks/notice")).to.have.length(1);
    expect(eventStates(id)).to.deep.equal(["accepted", "cancelled"]);
  });

  it("a cancel repeated after it was told puts no notice on the queue again", async () => {
    const id = await accepted("/hooks/repeated");
    const before = notices.published;
    expect(
      (await call(`${baseUrl}/messages/${id}`, { method: "DELETE", client: ALICE })).status,
    ).to.equal(200);
    await eventually(
      async () => ((await runtime.store.wasTold(id)) ? true : undefined),
      10_000,
      "the cancel told",
    );
    for (let i = 0; i < 3; i++) {
      const again = await call(`${baseUrl}/messages/${id}`, { method: "DELETE", client: ALICE });
      expect(again.status).to.equal(200);
      expect(again.json.state).to.equal("cancelled");
    }
    expect(notices.published - before, "notices published").to.equal(1);
    // Told is handed to delivery, not delivered: the callback may come after it.
    await eventually(
      async () => (callbacksFor("/hooks/repeated").length > 0 ? true : undefined),
      10_000,
      "the cancel's callback",
    );
    expect(callbacksFor("/hooks/repeated")).to.have.length(1);
  });
});
