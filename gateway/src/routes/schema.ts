import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, SchemaChangeSchema, SourceSchemaSchema } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { ok, route } from "../openapi.ts";

export const CACHED_SCHEMA_WARNING = "Using cached schema - live fetch failed";
const SchemaQuery = z.object({ refresh: z.enum(["true", "false", "1", "0"]).optional().transform((v) => v === "true" || v === "1") });

/** Stored schema; `?refresh=true` fetches it live and stores it, falling back to the stored copy. */
export function schemaRoutes(app: OpenAPIHono<GatewayEnv>, { bus, log }: GatewayDeps): void {
  route(app, {
    method: "get", path: "/api/data/sources/{id}/schema", tag: "sources", summary: "Schema of a source", query: SchemaQuery,
    responses: { 200: { description: "Schema", schema: ok({ schema: SourceSchemaSchema.nullable(), warning: z.string().optional(), changes: z.array(SchemaChangeSchema).optional() }) } },
  }, async (c, { params, query }) => {
    const actor = c.get("actor");
    const requestId = c.get("requestId");
    const { source } = await bus.request("catalog.source.get", { actor, id: params.id! }, { requestId });
    if (!query.refresh || source.type !== "database") return c.json({ success: true, schema: source.schema });
    try {
      const live = await bus.request("connector.introspect", { tenant_id: actor.tenant_id, id: source.id }, { requestId, timeoutMs: 120_000 });
      const stored = await bus.request("catalog.schema.put", { actor, id: source.id, schema: live.schema }, { requestId });
      return c.json({ success: true, schema: stored.schema, changes: stored.changes });
    } catch (e) {
      const code = e instanceof AppError ? e.code : "INTERNAL";
      log?.warn({ requestId, code, source: source.id }, "⚠️ live schema fetch failed; serving cached schema");
      return c.json({ success: true, schema: source.schema, warning: CACHED_SCHEMA_WARNING });
    }
  });
}
