import type { Context } from "hono";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, ColumnMetaSchema, QueryRequestSchema, type QueryRequest } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { asAppError } from "../errors.ts";
import { CONTENT_TYPES, csvHeader, csvLines, distinctNames, ndjsonLines, pickFormat, type ExportFormat } from "../export-format.ts";
import { ok, route } from "../openapi.ts";
import { allPages, pageOf, type Page } from "../results.ts";
import type { SourceLookup, SourceRoute } from "../source-lookup.ts";
import type { QueryHistory, QueryOutcome } from "../history.ts";

const QueryResult = ok({
  columns: z.array(ColumnMetaSchema), rows: z.array(z.array(z.unknown())), row_count: z.number().int(),
  truncated: z.boolean(), execution_time_ms: z.number(), query_id: z.string().nullable(),
});
const FormatQuery = z.object({ format: z.enum(["json", "csv", "ndjson"]).optional() });

/** Codes that mean the query reached a database or dataset (history records those). */
const REACHED: ReadonlySet<string> = new Set(["QUERY_FAILED", "TIMEOUT", "CONNECTION_FAILED", "INTERNAL"]);
const DEFAULT_LIMIT = 1000;

export function queryRoutes(app: OpenAPIHono<GatewayEnv>, deps: GatewayDeps, sources: SourceLookup, history: QueryHistory): void {
  const { bus, limits, log } = deps;

  const firstPage = async (c: Context<GatewayEnv>, source: SourceRoute, q: QueryRequest, format: ExportFormat, limit: number | undefined, timeoutMs: number): Promise<Page> => {
    const stream = format !== "json";
    const actor = c.get("actor");
    const requestId = c.get("requestId");
    if (source.type === "file") {
      if (q.pipeline) throw new AppError("VALIDATION", "File sources do not take a MongoDB pipeline; send a structured query_config instead");
      if (q.sql) throw new AppError("QUERY_FAILED", "File sources do not take sql; send a structured query_config instead, e.g. {\"query_config\": {\"select\": [\"col\"], \"limit\": 100}}");
      if (q.read_only === false) throw new AppError("FORBIDDEN", "File sources are read-only");
      return bus.request("ingestion.query", {
        tenant_id: actor.tenant_id, id: source.id, file_path: source.file_path ?? "", query_config: q.query_config!, limit, stream,
      }, { requestId, timeoutMs: timeoutMs + limits.busTimeoutMs });
    }
    return pageOf(await bus.requestWithBytes("connector.query", {
      tenant_id: actor.tenant_id, id: source.id, ...(source.version ? { config_version: source.version } : {}), sql: q.sql, params: q.params, query_config: q.query_config, collection: q.collection, pipeline: q.pipeline,
      limit, timeout_ms: timeoutMs, read_only: q.read_only ?? true, stream, ...(format === "csv" ? { format } : {}),
    }, { requestId, timeoutMs: timeoutMs + limits.busTimeoutMs }));
  };

  route(app, {
    method: "post", path: "/api/data/sources/{id}/query", tag: "queries", body: QueryRequestSchema, query: FormatQuery,
    summary: "Run sql or query_config; Accept: text/csv or application/x-ndjson (or ?format=) streams the whole result",
    responses: { 200: { description: "Rows (JSON) or a streamed export", schema: QueryResult, mediaTypes: ["text/csv", "application/x-ndjson"] } },
  }, async (c, { params, body, query }) => {
    const actor = c.get("actor");
    const requestId = c.get("requestId");
    const format = pickFormat(query.format, c.req.header("accept"));
    const source = await sources.get(actor, params.id!, requestId);
    const timeoutMs = body.timeout_ms ?? limits.defaultTimeoutMs;
    const started = performance.now();
    const stream = format !== "json";
    const limit = stream ? undefined : Math.min(body.limit ?? DEFAULT_LIMIT, limits.queryMaxRows);
    const pageOpts = { requestId, timeoutMs: timeoutMs + limits.busTimeoutMs };
    const record = (outcome: QueryOutcome) => history.record(actor, source.id, body, outcome, requestId);

    let first: Page;
    try {
      first = await firstPage(c, source, body, format, limit, timeoutMs);
    } catch (e) {
      const err = asAppError(e);
      if (REACHED.has(err.code)) record({ ok: false, error: err.message, count: null, ms: performance.now() - started });
      throw err;
    }

    if (format === "json") {
      const rows: unknown[][] = [];
      let columns = first.columns ?? [];
      let truncated = false;
      try {
        for await (const page of allPages(bus, first, pageOpts)) {
          if (c.req.raw.signal.aborted) throw new AppError("QUERY_FAILED", "Client disconnected");
          if (page.columns) columns = page.columns;
          for (const r of page.rows) rows.push(r);
          truncated ||= page.truncated;
        }
      } catch (e) {
        const err = asAppError(e);
        record({ ok: false, error: err.message, count: rows.length, ms: performance.now() - started });
        throw err;
      }
      if (body.limit && body.limit > limits.queryMaxRows && rows.length >= limits.queryMaxRows) truncated = true;
      const ms = Math.round(performance.now() - started);
      const queryId = record({ ok: true, count: rows.length, ms });
      return c.json({ success: true, columns, rows, row_count: rows.length, truncated, execution_time_ms: ms, query_id: queryId });
    }

    const pages = allPages(bus, first, pageOpts);
    const enc = new TextEncoder();
    let count = 0;
    let names: string[] = [];
    let finished = false;
    const finish = (outcome: { ok: boolean; error?: string }) => {
      if (finished) return;
      finished = true;
      record({ ...outcome, count, ms: performance.now() - started });
    };
    const bodyStream = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        try {
          const r = await pages.next();
          if (r.done) {
            ctrl.close();
            finish({ ok: true });
            return;
          }
          const page = r.value;
          let text = "";
          if (page.columns) {
            names = distinctNames(page.columns);
            if (format === "csv") text += csvHeader(page.columns);
          }
          if (page.csvBytes || page.csv !== undefined) {
            // CSV made by the database: written through as it came; its row_count is the running total.
            count = page.row_count;
            if (page.csvBytes) {
              if (text) ctrl.enqueue(enc.encode(text));
              ctrl.enqueue(page.csvBytes);
              return;
            }
            text += page.csv;
          } else {
            text += format === "csv" ? csvLines(page.rows) : ndjsonLines(names, page.rows);
            count += page.rows.length;
          }
          ctrl.enqueue(enc.encode(text));
        } catch (e) {
          const err = asAppError(e);
          log?.warn({ requestId, code: err.code }, "⚠️ export stopped");
          ctrl.error(err);
          finish({ ok: false, error: err.message });
        }
      },
      async cancel() {
        await pages.return(undefined);
        finish({ ok: false, error: "Client disconnected during export" });
      },
    }, { highWaterMark: 1 });
    const ext = format === "csv" ? "csv" : "ndjson";
    return new Response(bodyStream, {
      status: 200,
      headers: { "content-type": CONTENT_TYPES[format], "content-disposition": `attachment; filename="query-${source.id}.${ext}"`, "x-request-id": requestId },
    });
  });
}
