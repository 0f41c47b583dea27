import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, SchemaChangeSchema, SourceSchemaSchema } from "@dsb/contracts";
import { acceptsGzip } from "../accept-encoding.ts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { BEARER, FAILURE, IdParams, json, ok, route } from "../openapi.ts";

export const CACHED_SCHEMA_WARNING = "Using cached schema - live fetch failed";
const utf8 = new TextEncoder();
const SCHEMA_REPLY = utf8.encode('{"schema":');
const SUCCESS_HEAD = '{"success":true,';
const SUCCESS = utf8.encode(SUCCESS_HEAD);
/** A live schema's body depends on Accept-Encoding (gzip or identity). */
const VARY = { vary: "accept-encoding" };
const SchemaQuery = z.object({ refresh: z.enum(["true", "false", "1", "0"]).optional().transform((v) => v === "true" || v === "1") });

/** Stored schema; `?refresh=true` fetches it live and stores it, falling back to the stored copy. */
export function schemaRoutes(app: OpenAPIHono<GatewayEnv>, { bus, log }: GatewayDeps): void {
  route(app, createRoute({
    method: "get", path: "/api/data/sources/{id}/schema", tags: ["sources"], summary: "Schema of a source", security: BEARER,
    request: { params: IdParams, query: SchemaQuery },
    responses: { 200: json("Schema", ok({ schema: SourceSchemaSchema.nullable(), warning: z.string().optional(), changes: z.array(SchemaChangeSchema).optional() })), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const query = c.req.valid("query");
    const actor = c.get("actor");
    const requestId = c.get("requestId");
    const stored = () => bus.request("catalog.source.get", { actor, id: params.id }, { requestId }).then((r) => r.source);
    if (!query.refresh) return c.json({ success: true, schema: (await stored()).schema });
    // Live first: the connector checks tenant and type when it resolves the config, and stores the
    // schema itself, so the (possibly megabytes of) schema crosses the bus once. The stored copy is
    // read only when that fails: a file source, an unknown id (NOT_FOUND from the catalog) or a dead database.
    let failure: unknown;
    try {
      if (acceptsGzip(c.req.header("accept-encoding"))) {
        // The connector gzips the whole body (it compresses the megabytes for the bus anyway): forwarded
        // as it comes, with no gunzip and a ~100× smaller write here.
        const { reply, bytes } = await bus.requestWithBytes("connector.introspect",
          { tenant_id: actor.tenant_id, id: params.id, store: { actor }, gzip_head: SUCCESS_HEAD }, { requestId, timeoutMs: 120_000 });
        if (!("gzip" in reply) || !bytes) throw new AppError("INTERNAL", "Malformed schema reply from the connector");
        return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/json", "content-encoding": "gzip", ...VARY });
      }
      // Forwarded as bytes: `{"schema":…,"changes":[…]}` becomes the body after `"success":true`, with no
      // decode, parse or re-encode of megabytes here (the connector builds it to the contract; tests hold it to it).
      const live = await bus.requestJsonBytes("connector.introspect", { tenant_id: actor.tenant_id, id: params.id, store: { actor } }, { requestId, timeoutMs: 120_000 });
      if (!SCHEMA_REPLY.every((b, i) => live[i] === b)) throw new AppError("INTERNAL", "Malformed schema reply from the connector");
      const body = new Uint8Array(SUCCESS.byteLength + live.byteLength - 1);
      body.set(SUCCESS);
      body.set(live.subarray(1), SUCCESS.byteLength);
      return c.body(body, 200, { "content-type": "application/json", ...VARY });
    } catch (e) {
      failure = e;
    }
    const source = await stored();
    if (source.type !== "database") return c.json({ success: true, schema: source.schema }, 200, VARY);
    const code = failure instanceof AppError ? failure.code : "INTERNAL";
    log?.warn({ requestId, code, source: source.id }, "⚠️ live schema fetch failed; serving cached schema");
    return c.json({ success: true, schema: source.schema, warning: CACHED_SCHEMA_WARNING }, 200, VARY);
  });
}
