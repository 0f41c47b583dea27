import type { Context } from "hono";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, ColumnMetaSchema, QueryRequestSchema, type ColumnMeta, type QueryRequest } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { asAppError } from "../errors.ts";
import { jsonAnswer } from "../answer.ts";
import { queryAnswerJson } from "../query-answer.ts";
import { onClientGone } from "../client-gone.ts";
import { CONTENT_TYPES, csvHeader, csvLines, distinctNames, ndjsonLines, pickFormat, type ExportFormat } from "../export-format.ts";
import { BEARER, FAILURE, IdParams, json, jsonBody, ok, PathIdSchema, route } from "../openapi.ts";
import { allPages, closeCursor, pageOf, type Page } from "../results.ts";
import { CANCELLED_HISTORY_ERROR, untilAborted, type RunningQueries } from "../running-queries.ts";
import type { SourceLookup, SourceRoute } from "../source-lookup.ts";
import type { QueryHistory, QueryOutcome } from "../history.ts";
import { progress } from "@dsb/runtime/progress";
import { requestCacheKey, type CacheOutcome, type QueryCache, type QueryResultRows } from "../cache/index.ts";

const QueryResult = ok({
  columns: z.array(ColumnMetaSchema), rows: z.array(z.array(z.unknown())), row_count: z.number().int(),
  truncated: z.boolean(), execution_time_ms: z.number(), query_id: z.string().nullable(),
  /** Answered from the query result cache; `cached_at` says when the rows were read from the database. */
  cached: z.boolean().optional(), cached_at: z.string().optional(),
});
const FormatQuery = z.object({ format: z.enum(["json", "csv", "ndjson"]).optional() });

/** Codes that mean the query reached a database or dataset (history records those). */
const REACHED: ReadonlySet<string> = new Set(["QUERY_FAILED", "TIMEOUT", "CONNECTION_FAILED", "INTERNAL", "CANCELLED"]);
/** The history's error text: API.md's "Cancelled" for a cancel, the message otherwise. */
const historyError = (err: AppError) => (err.code === "CANCELLED" ? CANCELLED_HISTORY_ERROR : err.message);
const DEFAULT_LIMIT = 1000;

export function queryRoutes(app: OpenAPIHono<GatewayEnv>, deps: GatewayDeps, sources: SourceLookup, history: QueryHistory, queries: RunningQueries, cache: QueryCache | undefined): void {
  const { bus, limits, log } = deps;

  /** A JSON result; a `limit` over QUERY_MAX_ROWS that met the cap counts as truncated. */
  const resultOf = (columns: ColumnMeta[], rows: unknown[][], truncated: boolean, asked: number | undefined, started: number): QueryResultRows => ({
    columns, rows, truncated: truncated || (!!asked && asked > limits.queryMaxRows && rows.length >= limits.queryMaxRows),
    execution_time_ms: Math.round(performance.now() - started),
  });

  const firstPage = async (c: Context<GatewayEnv>, source: SourceRoute, q: QueryRequest, format: ExportFormat, limit: number | undefined, timeoutMs: number, queryId: string): Promise<Page> => {
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
      limit, timeout_ms: timeoutMs, read_only: q.read_only ?? true, stream, ...(stream ? { format } : {}), query_id: queryId,
    }, { requestId, timeoutMs: timeoutMs + limits.busTimeoutMs }));
  };

  // `hot`: the path id is checked in the handler rather than by the library's middleware (openapi.ts).
  route(app, createRoute({
    method: "post", path: "/api/data/sources/{id}/query", tags: ["queries"], security: BEARER,
    summary: "Run sql or query_config; Accept: text/csv or application/x-ndjson (or ?format=) streams the whole result (or `limit` rows). The x-query-id header names the query for POST /api/data/queries/{query_id}/cancel",
    request: { params: IdParams, query: FormatQuery, body: jsonBody(QueryRequestSchema) },
    responses: { 200: json("Rows (JSON) or a streamed export", QueryResult, ["text/csv", "application/x-ndjson"]), default: FAILURE },
  }), async (c) => {
    const params = c.req.valid("param");
    const query = c.req.valid("query");
    const body = c.req.valid("json");
    const actor = c.get("actor");
    const requestId = c.get("requestId");
    const format = pickFormat(query.format, c.req.header("accept"));
    const source = sources.peek(actor, params.id) ?? await sources.get(actor, params.id, requestId);
    const timeoutMs = body.timeout_ms ?? limits.defaultTimeoutMs;
    const started = performance.now();
    const stream = format !== "json";
    // JSON results are capped; an export only by the request's own limit.
    const limit = stream ? body.limit : Math.min(body.limit ?? DEFAULT_LIMIT, limits.queryMaxRows);
    const run = queries.start(body.query_id ?? crypto.randomUUID(), actor);
    c.set("queryId", run.id);
    // A client that goes away cancels its query.
    onClientGone(c, () => run.cancel());
    const pageOpts = { requestId, timeoutMs: timeoutMs + limits.busTimeoutMs, signal: run.signal };
    const dbType = source.type === "file" ? "file" : (source.db_type ?? "unknown");
    /** Every query that reached a database or dataset (or the cache): its history entry, its log line, its metrics. */
    const record = (outcome: QueryOutcome) => {
      const ms = Math.round(outcome.ms);
      deps.metrics?.query?.({ db_type: dbType, status: outcome.ok ? "success" : "error", seconds: ms / 1000, rows: outcome.count ?? 0 });
      log?.info({ requestId, query_id: run.id, source_id: source.id, db_type: dbType, rows: outcome.count, ms, status: outcome.ok ? "success" : "error", cached: outcome.cached === true, ...(stream ? { export: format } : {}) }, "query");
      return history.record(actor, source.id, body, outcome, requestId, run.id);
    };

    /** The first page; a failure is recorded when the query reached a database or dataset. */
    const getFirst = async (): Promise<Page> => {
      const pending = firstPage(c, source, body, format, limit, timeoutMs, run.id);
      try {
        return await untilAborted(pending, run.signal);
      } catch (e) {
        run.done();
        // Cancelled while the first page was on its way: a cursor it may still bring is closed.
        if (run.signal.aborted) void pending.then((p) => (p.cursor ? closeCursor(bus, p.cursor, requestId) : undefined), () => undefined);
        const err = asAppError(e);
        if (REACHED.has(err.code)) record({ ok: false, error: historyError(err), count: null, ms: performance.now() - started });
        throw err;
      }
    };

    if (format === "json") {
      const runQuery = async (): Promise<QueryResultRows> => {
        const first = await getFirst();
        // One page (a small result): its rows as they came, without the pull loop.
        if (first.done || !first.cursor) return resultOf(first.columns ?? [], first.rows, first.truncated, body.limit, started);
        const rows: unknown[][] = [];
        let columns = first.columns ?? [];
        let truncated = false;
        try {
          for await (const page of allPages(bus, first, pageOpts)) {
            if (page.columns) columns = page.columns;
            for (const r of page.rows) rows.push(r);
            truncated ||= page.truncated;
          }
        } catch (e) {
          const err = asAppError(e);
          record({ ok: false, error: historyError(err), count: rows.length, ms: performance.now() - started });
          throw err;
        }
        return resultOf(columns, rows, truncated, body.limit, started);
      };
      let outcome: CacheOutcome;
      try {
        // Writes are never cached (nor read from the cache): they run every time.
        const readOnly = body.read_only ?? true;
        const ttl = readOnly && cache ? (body.cache_ttl_seconds ?? source.cache_ttl_seconds ?? limits.queryCacheTtlS ?? 0) : 0;
        if (ttl > 0 && cache) {
          const key = requestCacheKey(body, { tenant: actor.tenant_id, sourceId: source.id, version: source.version, limit: limit!, read_only: readOnly });
          outcome = await cache.run(key, body.cache ?? "use", ttl, runQuery);
        } else {
          outcome = { result: await runQuery(), cachedAt: null, fromOthers: false };
        }
      } finally {
        run.done();
      }
      const { result, cachedAt, fromOthers } = outcome;
      const ms = fromOthers ? Math.round(performance.now() - started) : result.execution_time_ms;
      record({ ok: true, count: result.rows.length, ms, cached: fromOthers });
      return jsonAnswer(c, queryAnswerJson(result, { ms, queryId: run.id, cached: fromOthers, cachedAt }), { "x-query-id": run.id });
    }

    const first = await getFirst();
    const pages = allPages(bus, first, pageOpts);
    const enc = new TextEncoder();
    let count = 0;
    let names: string[] = [];
    let finished = false;
    const exporting = progress(log, "export", { requestId, query_id: run.id, source_id: source.id, db_type: dbType, format });
    const finish = (outcome: { ok: boolean; error?: string }) => {
      if (finished) return;
      finished = true;
      run.done();
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
            // Lines made by the database (CSV) or the connector (NDJSON): written through as they came; row_count is the running total.
            const rowsBefore = count;
            count = page.row_count;
            if (page.csvBytes) {
              if (text) ctrl.enqueue(enc.encode(text));
              ctrl.enqueue(page.csvBytes);
              exporting.add({ rows: count - rowsBefore, bytes: page.csvBytes.byteLength + text.length });
              return;
            }
            text += page.csv;
            exporting.add({ rows: count - rowsBefore });
          } else {
            text += format === "csv" ? csvLines(page.rows) : ndjsonLines(names, page.rows);
            count += page.rows.length;
            exporting.add({ rows: page.rows.length });
          }
          const bytes = enc.encode(text);
          exporting.add({ bytes: bytes.byteLength });
          ctrl.enqueue(bytes);
        } catch (e) {
          const err = asAppError(e);
          finish({ ok: false, error: historyError(err) });
          // The Node entry's stream guard logs this as one line and ends the response without its closing chunk.
          ctrl.error(err);
        }
      },
      async cancel() {
        // The client went away: the same as a cancel by id.
        run.cancel();
        await pages.return(undefined);
        finish({ ok: false, error: CANCELLED_HISTORY_ERROR });
      },
    }, { highWaterMark: 1 });
    const ext = format === "csv" ? "csv" : "ndjson";
    return new Response(bodyStream, {
      status: 200,
      headers: {
        "content-type": CONTENT_TYPES[format], "content-disposition": `attachment; filename="query-${source.id}.${ext}"`,
        "x-request-id": requestId, "x-query-id": run.id,
      },
    });
  }, { hot: true });

  route(app, createRoute({
    method: "post", path: "/api/data/queries/{query_id}/cancel", tags: ["queries"], security: BEARER,
    summary: "Cancel a running query or export of this tenant (the user who ran it, or an admin); it answers 409 CANCELLED and stops on the database",
    request: { params: z.object({ query_id: PathIdSchema }) },
    responses: { 200: json("Cancelled", ok({})), default: FAILURE },
  }), async (c) => {
    await queries.cancel(c.get("actor"), c.req.valid("param").query_id, c.get("requestId"));
    return c.json({ success: true });
  });
}
