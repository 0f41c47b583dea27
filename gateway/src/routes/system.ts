import type { Context } from "hono";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, ErrorEnvelopeSchema, SERVICES, type ServiceName } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { errorResponse } from "../errors.ts";
import { json, route } from "../openapi.ts";

const UpDown = z.enum(["up", "down"]);
const ReadySchema = z.object({ status: z.enum(["ready", "unavailable"]), bus: UpDown, services: z.record(z.string(), UpDown) });
const REMOVED_PATHS = ["/api/data/cube", "/api/data/cube/{path}", "/api/data/cube-modeling", "/api/data/cube-modeling/{path}"];

/** Health, readiness, metrics and the removed Cube.js routes; none needs a token. */
export function systemRoutes(app: OpenAPIHono<GatewayEnv>, { bus, metrics }: GatewayDeps): void {
  route(app, createRoute({
    method: "get", path: "/healthz", summary: "Liveness: the process is up", tags: ["system"],
    responses: { 200: json("Up", z.object({ status: z.literal("ok") })) },
  }), (c) => c.json({ status: "ok" }));

  route(app, createRoute({
    method: "get", path: "/readyz", summary: "Readiness: the bus and every service answer", tags: ["system"],
    responses: { 200: json("Ready", ReadySchema), 503: json("A service or the bus is down", ReadySchema) },
  }), async (c) => {
    const names = Object.keys(SERVICES) as ServiceName[];
    const results = await Promise.all(names.map(async (n) => [n, await bus.ping(n, 1500)] as const));
    const services = Object.fromEntries(results.map(([n, up]) => [n, up ? "up" : "down"]));
    const busUp = bus.transport.isConnected();
    const ready = busUp && results.every(([, up]) => up);
    return c.json({ status: ready ? "ready" : "unavailable", bus: busUp ? "up" : "down", services }, ready ? 200 : 503);
  });

  route(app, createRoute({
    method: "get", path: "/metrics", summary: "Prometheus metrics (text exposition format)", tags: ["system"],
    responses: { 200: { description: "Metrics", content: { "text/plain": { schema: { type: "string" } } } }, 404: { description: "Metrics are off in this process" } },
  }), async (c) => {
    if (!metrics) return c.text("", 404);
    return c.body(await metrics.render(), 200, { "content-type": metrics.contentType });
  });

  // Any method and any sub-path, so one wildcard route each; documented per method and path.
  const removedDoc = json("Always: the Cube.js integration was removed (code NOT_IMPLEMENTED)", ErrorEnvelopeSchema);
  for (const path of REMOVED_PATHS)
    for (const method of ["get", "post", "put", "delete"] as const)
      app.openAPIRegistry.registerPath(createRoute({ method, path, summary: "Removed Cube.js integration (any method, any sub-path)", tags: ["system"], responses: { 501: removedDoc } }));
  const removed = (c: Context<GatewayEnv>) =>
    errorResponse(c, new AppError("NOT_IMPLEMENTED", "The Cube.js integration was removed; query sources with POST /api/data/sources/{id}/query"));
  app.all("/api/data/cube", removed);
  app.all("/api/data/cube/*", removed);
  app.all("/api/data/cube-modeling", removed);
  app.all("/api/data/cube-modeling/*", removed);
}
