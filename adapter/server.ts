// The adapter's HTTP application: routes of the service port. Protocol routes are small and
// share the intake; anything not matched is a clear 404/405 in the contract's error shape.

import Koa from "koa";
import Router from "@koa/router";
import type { Logger } from "pino";
import { SluiceError } from "../shared/errors";
import { answerError } from "./error-answer";
import { restRoute, type RestRouteDeps } from "./rest/rest-route";
import { registerSoapRoutes } from "./soap/soap-route";
import { cancelRoute, statusRoute, type StatusRouteDeps } from "./status-route";

export type RouteRegistrar = (router: Router, log: Logger) => void;

export function createApp(
  deps: RestRouteDeps & StatusRouteDeps,
  extraRoutes: RouteRegistrar[] = [],
): Koa {
  const app = new Koa();
  app.proxy = false;
  // Every answer carries the caller's X-Road-Id (CONTRACT §3), whatever route or error made it.
  app.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      const xroadId = ctx.get("X-Road-Id");
      if (xroadId) ctx.set("X-Road-Id", xroadId);
    }
  });
  const router = new Router();
  const rest = restRoute(deps);
  router.all(/^\/rest\/.*/, rest);
  router.get("/messages/:id", statusRoute(deps));
  router.delete("/messages/:id", cancelRoute(deps));
  registerSoapRoutes(router, deps);
  for (const register of extraRoutes) register(router, deps.log);
  app.use(router.routes());
  app.use(async (ctx) => {
    answerError(ctx, new SluiceError("NotFound", `nothing at ${ctx.method} ${ctx.path}`), deps.log);
  });
  // Koa's own error event would print stacks; errors are answered in the routes already.
  app.on("error", (error: Error) => deps.log.debug({ err: error.message }, "connection error"));
  return app;
}
