import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { DataSourceSchema, HistoryEntrySchema, LoginWarningSchema, SourcePatchSchema } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { BEARER, FAILURE, IdParams, json, jsonBody, ok, route } from "../openapi.ts";
import type { SourceLookup } from "../source-lookup.ts";
import type { QueryHistory } from "../history.ts";

const ListQuery = z.object({
  type: z.enum(["file", "database"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
  /** true: items without `schema`. */
  summary: z.enum(["true", "false"]).optional().transform((v) => v === "true"),
});
/** The PATCH is answered after the connection test of a changed config (up to 45 s) and the write. */
const UPDATE_WAIT_MS = 60_000;
const HistoryQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50), cursor: z.string().max(512).optional() });

/** List, get, delete and history of the caller's tenant's sources. */
export function sourceRoutes(app: OpenAPIHono<GatewayEnv>, { bus }: GatewayDeps, sources: SourceLookup, history: QueryHistory): void {
  route(app, createRoute({
    method: "get", path: "/api/data/sources", tags: ["sources"], summary: "This tenant's active sources", security: BEARER,
    request: { query: ListQuery },
    responses: { 200: json("Sources, newest first", ok({ data_sources: z.array(DataSourceSchema), next_cursor: z.string().nullable() })), default: FAILURE },
  }), async (c) => {
    const query = c.req.valid("query");
    const r = await bus.request("catalog.source.list", { actor: c.get("actor"), ...query }, { requestId: c.get("requestId") });
    const items = query.summary ? r.sources.map(({ schema: _schema, ...rest }) => rest) : r.sources;
    return c.json({ success: true, data_sources: items, next_cursor: r.next_cursor });
  });

  route(app, createRoute({
    method: "get", path: "/api/data/sources/{id}", tags: ["sources"], summary: "One source", security: BEARER,
    request: { params: IdParams },
    responses: { 200: json("The source (secrets redacted)", ok({ data_source: DataSourceSchema })), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const r = await bus.request("catalog.source.get", { actor: c.get("actor"), id: params.id }, { requestId: c.get("requestId") });
    return c.json({ success: true, data_source: r.source });
  });

  route(app, createRoute({
    method: "patch", path: "/api/data/sources/{id}", tags: ["sources"], security: BEARER,
    summary: "Change a source (owner or admin): name, config fields (a secret left out keeps its stored value), allow_writes, cache_ttl_seconds, health_check; a changed config is tested first",
    request: { params: IdParams, body: jsonBody(SourcePatchSchema) },
    responses: { 200: json("The changed source (secrets redacted); warnings of the test of a changed config, as connect", ok({ data_source: DataSourceSchema, warnings: z.array(LoginWarningSchema) })), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const body = c.req.valid("json");
    const actor = c.get("actor");
    const r = await bus.request("catalog.source.update", { actor, id: params.id, patch: body }, { requestId: c.get("requestId"), timeoutMs: UPDATE_WAIT_MS });
    sources.evict(actor, params.id); // this gateway at once; the others on catalog.events.source.changed
    return c.json({ success: true, data_source: r.source, warnings: r.warnings });
  });

  route(app, createRoute({
    method: "delete", path: "/api/data/sources/{id}", tags: ["sources"], summary: "Soft delete (owner or admin); pools closed", security: BEARER,
    request: { params: IdParams },
    responses: { 200: json("Deleted", ok({})), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    await bus.request("catalog.source.delete", { actor: c.get("actor"), id: params.id }, { requestId: c.get("requestId") });
    sources.evict(c.get("actor"), params.id);
    return c.json({ success: true });
  });

  route(app, createRoute({
    method: "get", path: "/api/data/sources/{id}/queries", tags: ["queries"], summary: "Query history, newest first", security: BEARER,
    request: { params: IdParams, query: HistoryQuery },
    responses: { 200: json("History", ok({ queries: z.array(HistoryEntrySchema), next_cursor: z.string().nullable() })), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const query = c.req.valid("query");
    await history.settled(params.id);
    const r = await bus.request("catalog.history.list", { actor: c.get("actor"), data_source_id: params.id, ...query }, { requestId: c.get("requestId") });
    return c.json({ success: true, queries: r.queries, next_cursor: r.next_cursor });
  });
}
