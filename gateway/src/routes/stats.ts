import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, QueryStatsSchema, SourceStatsSchema, STATS_DEFAULT_DAYS } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import type { QueryHistory } from "../history.ts";
import { BEARER, FAILURE, IdParams, json, ok, route } from "../openapi.ts";

const SinceQuery = z.object({ since: z.string().optional() });

/** `?since=` as ISO-8601 UTC; absent: STATS_DEFAULT_DAYS ago. */
function sinceOf(raw: string | undefined): string {
  if (raw === undefined) return new Date(Date.now() - STATS_DEFAULT_DAYS * 86_400_000).toISOString();
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new AppError("VALIDATION", `since must be an ISO-8601 time such as ${new Date(Date.now() - 7 * 86_400_000).toISOString()}`);
  return new Date(t).toISOString();
}

/** Query analytics from the history (API.md "Query analytics"). */
export function statsRoutes(app: OpenAPIHono<GatewayEnv>, { bus }: GatewayDeps, history: QueryHistory): void {
  route(app, createRoute({
    method: "get", path: "/api/data/sources/{id}/stats", tags: ["queries"], security: BEARER,
    summary: "Query analytics of a source since ?since= (default 30 days): totals, p50/p95, by day, slowest and most frequent queries",
    request: { params: IdParams, query: SinceQuery },
    responses: { 200: json("Stats", ok({ stats: QueryStatsSchema })), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const query = c.req.valid("query");
    const since = sinceOf(query.since);
    // Read-your-writes: history this gateway is still writing for the source lands first.
    await history.settled(params.id);
    const { stats } = await bus.request("catalog.stats.source", { actor: c.get("actor"), id: params.id, since }, { requestId: c.get("requestId") });
    return c.json({ success: true, stats });
  });

  route(app, createRoute({
    method: "get", path: "/api/data/stats", tags: ["queries"], security: BEARER,
    summary: "Query totals of every source of the tenant since ?since= (default 30 days)",
    request: { query: SinceQuery },
    responses: { 200: json("Totals per source", ok({ sources: z.array(SourceStatsSchema) })), default: FAILURE },
  }), async (c) => {
    const query = c.req.valid("query");
    const { sources } = await bus.request("catalog.stats.tenant", { actor: c.get("actor"), since: sinceOf(query.since) }, { requestId: c.get("requestId") });
    return c.json({ success: true, sources });
  });
}
