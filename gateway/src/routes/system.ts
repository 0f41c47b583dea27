import type { Context } from "hono";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, ErrorEnvelopeSchema, SERVICES, type ServiceName } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { errorResponse } from "../errors.ts";

const UpDown = z.enum(["up", "down"]);
const ReadySchema = z.object({ status: z.enum(["ready", "unavailable"]), bus: UpDown, services: z.record(z.string(), UpDown) });
const json = (description: string, schema: z.ZodType) => ({ description, content: { "application/json": { schema } } });

/** Puts the routes below in /openapi.json (they are plain Hono routes: no body or token to validate). */
function documentSystemRoutes(app: OpenAPIHono<GatewayEnv>): void {
  const doc = (method: "get" | "post" | "put" | "delete", path: string, summary: string, responses: Record<string, object>) =>
    app.openAPIRegistry.registerPath({ method, path, summary, tags: ["system"], responses: responses as never });
  doc("get", "/healthz", "Liveness: the process is up", { 200: json("Up", z.object({ status: z.literal("ok") })) });
  doc("get", "/readyz", "Readiness: the bus and every service answer", {
    200: json("Ready", ReadySchema), 503: json("A service or the bus is down", ReadySchema),
  });
  doc("get", "/metrics", "Prometheus metrics (text exposition format)", {
    200: { description: "Metrics", content: { "text/plain": { schema: { type: "string" } } } }, 404: { description: "Metrics are off in this process" },
  });
  const removed = json("Always: the Cube.js integration was removed (code NOT_IMPLEMENTED)", ErrorEnvelopeSchema);
  for (const path of ["/api/data/cube", "/api/data/cube/{path}", "/api/data/cube-modeling", "/api/data/cube-modeling/{path}"])
    for (const method of ["get", "post", "put", "delete"] as const) doc(method, path, "Removed Cube.js integration (any method, any sub-path)", { 501: removed });
}

/** Health, readiness, metrics and the removed Cube.js routes; none needs a token. */
export function systemRoutes(app: OpenAPIHono<GatewayEnv>, { bus, metrics }: GatewayDeps): void {
  documentSystemRoutes(app);
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
