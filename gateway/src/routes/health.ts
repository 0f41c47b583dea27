import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { HealthCheckSchema, HealthCountsSchema, HealthSummarySchema, SourceHealthSchema } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { BEARER, FAILURE, IdParams, json, ok, route } from "../openapi.ts";

/** The check's own timeout is HEALTH_CHECK_TIMEOUT_MS on the catalog; this only bounds the wait for it. */
const TEST_WAIT_MS = 60_000;

/** Re-testing a stored source and reading health (API.md "Managing a source", "Health monitoring"). */
export function healthRoutes(app: OpenAPIHono<GatewayEnv>, { bus }: GatewayDeps): void {
  route(app, createRoute({
    method: "post", path: "/api/data/sources/{id}/test", tags: ["health"], summary: "Test a stored source now; updates its health", security: BEARER,
    request: { params: IdParams },
    responses: { 200: json("As database/test (a failed test is success:false with code CONNECTION_FAILED), plus the source's health", z.union([
      ok({ message: z.string(), latency_ms: z.number(), server_version: z.string().nullable(), health: SourceHealthSchema }),
      z.object({ success: z.literal(false), error: z.string(), code: z.string(), health: SourceHealthSchema }),
    ])), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const { check, health } = await bus.request("catalog.health.test", { actor: c.get("actor"), id: params.id }, { requestId: c.get("requestId"), timeoutMs: TEST_WAIT_MS });
    if (check.ok) return c.json({ success: true, message: "Connection successful", latency_ms: check.latency_ms, server_version: check.server_version, health });
    // database/test reports every failure of the database as CONNECTION_FAILED; an address refused by the policy keeps its code.
    const code = check.error?.code === "ADDRESS_NOT_ALLOWED" ? "ADDRESS_NOT_ALLOWED" : "CONNECTION_FAILED";
    return c.json({ success: false, error: check.error?.message ?? "Connection failed", code, health });
  });

  route(app, createRoute({
    method: "get", path: "/api/data/sources/{id}/health", tags: ["health"], summary: "Health of a database source and its last 50 checks, newest first", security: BEARER,
    request: { params: IdParams },
    responses: { 200: json("Health and checks", ok({ health: SourceHealthSchema, checks: z.array(HealthCheckSchema) })), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const r = await bus.request("catalog.health.get", { actor: c.get("actor"), id: params.id }, { requestId: c.get("requestId") });
    return c.json({ success: true, health: r.health, checks: r.checks });
  });

  route(app, createRoute({
    method: "get", path: "/api/data/health", tags: ["health"], summary: "Health of every database source of the tenant, worst first", security: BEARER,
    responses: { 200: json("Counts per status and the sources", ok({ counts: HealthCountsSchema, sources: z.array(HealthSummarySchema) })), default: FAILURE },
  }), async (c) => {
    const r = await bus.request("catalog.health.list", { actor: c.get("actor") }, { requestId: c.get("requestId") });
    return c.json({ success: true, counts: r.counts, sources: r.sources });
  });
}
