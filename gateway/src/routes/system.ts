import type { Context } from "hono";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { AppError, SERVICES, type ServiceName } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { errorResponse } from "../errors.ts";

/** Health, readiness, metrics and the removed Cube.js routes; none needs a token. */
export function systemRoutes(app: OpenAPIHono<GatewayEnv>, { bus, metrics }: GatewayDeps): void {
  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const names = Object.keys(SERVICES) as ServiceName[];
    const results = await Promise.all(names.map(async (n) => [n, await bus.ping(n, 1500)] as const));
    const services = Object.fromEntries(results.map(([n, up]) => [n, up ? "up" : "down"]));
    const busUp = bus.transport.isConnected();
    const ready = busUp && results.every(([, up]) => up);
    return c.json({ status: ready ? "ready" : "unavailable", bus: busUp ? "up" : "down", services }, ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    if (!metrics) return c.text("", 404);
    return c.body(await metrics.render(), 200, { "content-type": metrics.contentType });
  });

  const removed = (c: Context<GatewayEnv>) =>
    errorResponse(c, new AppError("NOT_IMPLEMENTED", "The Cube.js integration was removed; query sources with POST /api/data/sources/{id}/query"));
  app.all("/api/data/cube", removed);
  app.all("/api/data/cube/*", removed);
  app.all("/api/data/cube-modeling", removed);
  app.all("/api/data/cube-modeling/*", removed);
}
