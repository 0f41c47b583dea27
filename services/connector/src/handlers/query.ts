import { performance } from "node:perf_hooks";
import { pageBudget, PageReader } from "@dsb/bus";
import { AppError, replicaSubject, type ColumnMeta, type ParsedRequestOf, type SourceSchema } from "@dsb/contracts";
import { mapDriverError } from "../driver-errors.ts";
import { DriverError } from "../drivers/types.ts";
import { closerFor, metaBytes, ndjsonPages, PageBuffers, readAhead, readCsvPage, readPage, releaseQuery, reply, type CursorMeta, type PageOut, type PageReply } from "../pages.ts";
import type { Lease } from "../pools.ts";
import { compileQueryConfig } from "../query-config.ts";
import { leaseSource, resolveSource } from "../sources.ts";
import type { ConnectorDeps, ResolvedSource } from "./deps.ts";

/** Rows per driver batch; pages are then cut by bytes. */
export const BATCH_ROWS = 2000;

type QueryRequest = ParsedRequestOf<"connector.query">;

/** The statement a driver runs: SQL (or a MongoDB pipeline as JSON) and its parameters. */
interface Statement { text: string; params: unknown[] }

/** A result opened on the database: how to read its first page, and what closes it. */
interface OpenResult { columns: ColumnMeta[]; reader: PageReader; firstPage: (budget: number) => Promise<PageOut> }

/**
 * connector.query: runs a query on a stored source and answers its first page.
 * A result longer than a page is parked in the cursor registry, which then owns
 * its resources; otherwise they are released here, in one place, however the query ends.
 */
export async function handleQuery(deps: ConnectorDeps, req: QueryRequest): Promise<PageReply> {
  const started = performance.now();
  const src = await resolveSource(deps, req.tenant_id, req.id, req.config_version);
  if (!req.read_only && src.config.allow_writes !== true)
    throw new AppError("FORBIDDEN", 'This data source was connected without allow_writes; reconnect it with "allow_writes": true to run writes');
  const { text, params } = await statementOf(deps, req, src);
  // An export reads everything unless the request gives a limit.
  const cap = req.stream ? req.limit ?? Number.POSITIVE_INFINITY : Math.min(req.limit ?? deps.maxRows, deps.maxRows);
  const meta = track(deps, req, await leaseSource(deps, src), cap, started);
  let result: OpenResult | null = null;
  let parked = false;
  try {
    result = await openResult(meta, req, text, params, deps.bus.transport.kind === "nats");
    const cursorSubject = replicaSubject("connector.cursor.*", deps.replicaId);
    meta.budget = pageBudget(deps.bus.maxPayload, metaBytes({ cursor: { subject: cursorSubject, id: "x".repeat(36) }, row_count: 0, execution_time_ms: 0 }));
    const page = await result.firstPage(pageBudget(deps.bus.maxPayload, metaBytes({ columns: result.columns, cursor: { subject: cursorSubject, id: "x".repeat(36) } })));
    const execution_time_ms = Math.round(performance.now() - started);
    if (page.done) return reply(page, { columns: result.columns, done: true, truncated: page.truncated, row_count: meta.rowCount, execution_time_ms });
    const id = deps.cursors.add(result.reader, meta);
    meta.cursorId = id;
    parked = true;
    readAhead(meta);
    return reply(page, { columns: result.columns, done: false, truncated: false, row_count: meta.rowCount, execution_time_ms, cursor: { subject: cursorSubject, id } });
  } catch (e) {
    throw mapDriverError(e, "query", req.timeout_ms, meta.abort.signal);
  } finally {
    if (!parked) {
      await result?.reader.close().catch(() => undefined);
      releaseQuery(meta);
    }
  }
}

/** The statement of a request: a MongoDB pipeline, compiled query_config, or SQL with its params (exactly one). */
async function statementOf(deps: ConnectorDeps, req: QueryRequest, src: ResolvedSource): Promise<Statement> {
  const isMongo = src.driver.dialect === "mongodb";
  if (req.pipeline || req.collection) {
    if (!isMongo) throw new AppError("VALIDATION", "collection and pipeline are for MongoDB sources; send sql or query_config");
    if (req.sql || req.query_config || !req.pipeline || !req.collection) throw new AppError("VALIDATION", "Send collection with pipeline, and neither sql nor query_config");
    return { text: JSON.stringify({ collection: req.collection, pipeline: req.pipeline }), params: [] };
  }
  if (req.sql && isMongo) throw new AppError("VALIDATION", 'MongoDB sources take {"collection": "...", "pipeline": [...]} or a query_config instead of sql');
  if (req.query_config) {
    if (req.sql) throw new AppError("VALIDATION", "Send either sql or query_config (exactly one)");
    const { source } = await deps.bus.request("catalog.source.get", { actor: { tenant_id: req.tenant_id, user_id: "connector" }, id: req.id });
    const compiled = compileQueryConfig(src.driver.dialect, req.query_config, source.schema as SourceSchema | null);
    return { text: compiled.sql, params: compiled.params };
  }
  if (req.sql) return { text: req.sql, params: req.params ?? [] };
  throw new AppError("VALIDATION", "Send either sql or query_config (exactly one)");
}

/**
 * What a running query holds, with its bounds armed: the timeout (a capped query
 * is bounded from start to last page; a stream only per statement, on the server)
 * and the cancel by query id. Both also close a parked cursor, which would
 * otherwise hold its connection until the idle close.
 */
function track(deps: ConnectorDeps, req: QueryRequest, lease: Lease, cap: number, started: number): CursorMeta {
  const abort = new AbortController();
  const meta: CursorMeta = {
    lease, abort, timer: null, cap, rowCount: 0, started, budget: 0, read: () => Promise.reject(new Error("no reader")), ahead: null, unregister: () => {},
  };
  const stop = (reason: DriverError) => {
    abort.abort(reason);
    if (meta.cursorId) void deps.cursors.close(meta.cursorId);
  };
  if (!req.stream) {
    meta.timer = setTimeout(() => stop(new DriverError("timeout", `Query exceeded its timeout of ${req.timeout_ms} ms and was cancelled`)), req.timeout_ms);
    meta.timer.unref();
  }
  if (req.query_id) meta.unregister = deps.cancels.register(req.query_id, req.tenant_id, () => stop(new DriverError("cancelled", "Query was cancelled")));
  return meta;
}

/**
 * Runs the statement: a streamed CSV export as server-made CSV when the driver
 * can (`copyCsv`), else rows in batches. Sets how the cursor reads its later pages.
 */
async function openResult(meta: CursorMeta, req: QueryRequest, text: string, params: unknown[], reusePages: boolean): Promise<OpenResult> {
  const { conn } = meta.lease;
  const { cap } = meta;
  const signal = meta.abort.signal;
  if (req.format === "csv" && req.stream && conn.copyCsv) {
    const stream = await conn.copyCsv(text, params, { readOnly: req.read_only, timeoutMs: req.timeout_ms, signal, ...(Number.isFinite(cap) ? { limit: cap } : {}) });
    if (stream) {
      const buffers = new PageBuffers(reusePages);
      meta.read = () => readCsvPage(stream, buffers, meta);
      return { columns: stream.columns, reader: closerFor(stream), firstPage: (budget) => readCsvPage(stream, buffers, meta, budget) };
    }
  }
  const stream = await conn.query(text, params, {
    readOnly: req.read_only, timeoutMs: req.timeout_ms, signal,
    batchRows: Number.isFinite(cap) ? Math.min(cap + 1, BATCH_ROWS) : BATCH_ROWS,
    // One row past the cap tells whether the result was truncated; nothing beyond it is ever read.
    ...(cap + 1 <= BATCH_ROWS ? { maxRows: cap + 1 } : {}),
  });
  const reader = new PageReader(stream.batches);
  const lines = req.format === "ndjson" && req.stream ? ndjsonPages(stream.columns) : undefined;
  meta.read = () => readPage(reader, meta, meta.budget, lines);
  return { columns: stream.columns, reader, firstPage: (budget) => readPage(reader, meta, budget, lines) };
}
