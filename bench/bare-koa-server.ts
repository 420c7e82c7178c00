// The bare Koa baseline: the same framework and body reader as the adapter, doing only the
// unavoidable work (read the body, JSON.parse it, answer), in its own process.

import Koa from "koa";
import Router from "@koa/router";
import getRawBody from "raw-body";
import { randomUUID } from "node:crypto";
import { serveUntilStopped } from "./baseline-process";

const BODY_LIMIT = 1024 * 1024;

function bareKoa(): Koa {
  const app = new Koa();
  const router = new Router();
  // REST ack shape: parse the JSON body and answer 202 with an ack of the adapter's size.
  router.post("/rest/:service", async (ctx) => {
    const raw = await getRawBody(ctx.req, { limit: BODY_LIMIT, encoding: "utf8" });
    const parsed = JSON.parse(raw) as unknown;
    if (parsed === null || typeof parsed !== "object") ctx.throw(400);
    const id = randomUUID();
    ctx.status = 202;
    ctx.set("Location", `/messages/${id}`);
    ctx.body = { id, xroadId: null, state: "accepted", statusUrl: `/messages/${id}` };
  });
  // SOAP shape: read the envelope and answer a small fixed acknowledgement (no XML parsing).
  router.post("/soap", async (ctx) => {
    const raw = await getRawBody(ctx.req, { limit: BODY_LIMIT, encoding: "utf8" });
    if (raw.length === 0) ctx.throw(400);
    const id = randomUUID();
    ctx.type = "text/xml; charset=utf-8";
    ctx.body =
      '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">' +
      `<SOAP-ENV:Body><testQueryResponse><id>${id}</id><state>accepted</state>` +
      "</testQueryResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>";
  });
  // Memory floor: parse the body, then hold the request open (as a sync waiter would) until
  // the caller goes away.
  router.post("/hold/:service", async (ctx) => {
    const raw = await getRawBody(ctx.req, { limit: BODY_LIMIT, encoding: "utf8" });
    const parsed = JSON.parse(raw) as unknown;
    await new Promise<void>((resolve) => ctx.req.socket.once("close", resolve));
    ctx.status = 200;
    ctx.body = parsed;
  });
  app.use(router.routes());
  return app;
}

function main(): void {
  serveUntilStopped(bareKoa(), async () => undefined);
}

if (require.main === module) main();
