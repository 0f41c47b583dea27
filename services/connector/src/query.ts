import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { CursorRegistry, pageBudget, PageReader, RawJson, WithBytes, type Bus, type TtlCache } from "@dsb/bus";
import {
  AppError, buildSchema, parseDatabaseConfig, replicaSubject, toAppError,
  type Actor, type DatabaseConfig, type ParsedRequestOf, type QueryPage, type SchemaChange, type SourceSchema,
} from "@dsb/contracts";
import type { Logger } from "@dsb/runtime";
import { connectChecked, dialTargets, type AddressPolicyOptions } from "./address-policy.ts";
import { withProtocolCheck } from "./drivers/shared/protocol-check.ts";
import { driverFor } from "./drivers/index.ts";
import { DriverError, type Connection, type CsvStream, type Driver, type TablesJson } from "./drivers/types.ts";
import type { Lease, PoolRegistry } from "./pools.ts";
import type { CancelRegistry } from "./cancels.ts";
import { compileQueryConfig } from "./query-config.ts";
import { CsvPager } from "./csv-pages.ts";

/** Rows per driver batch; pages are then cut by bytes. */
const BATCH_ROWS = 2000;

/** What a held cursor needs besides its reader. */
export interface CursorMeta {
  lease: Lease;
  abort: AbortController;
  timer: NodeJS.Timeout | null;
  /** Most rows this cursor may still deliver in total (Infinity when streaming). */
  cap: number;
  rowCount: number;
  started: number;
  budget: number;
  /** Set once the result is parked in the registry, so the timeout can close it. */
  cursorId?: string;
  /** Takes the query out of the cancel registry (idempotent). */
  unregister: () => void;
  /** Reads the next page (rows, or CSV text for a server-side CSV export). */
  read: () => Promise<PageOut>;
  /** The next page, read while the previous one travels (at most one). */
  ahead: Promise<{ ok: true; page: PageOut } | { ok: false; error: unknown }> | null;
}

/** One page as the cursor produces it. */
interface PageOut { rows: unknown[][]; csv?: Buffer; done: boolean; truncated: boolean }

/** What a query or cursor handler answers: a page, with its CSV bytes attached when it carries server-made CSV. */
type PageReply = QueryPage | WithBytes<QueryPage>;

/** The reply for a page: rows in the JSON, or server-made CSV as the message's attachment. */
function reply(page: PageOut, fields: Omit<QueryPage, "rows" | "csv" | "csv_attached">): PageReply {
  if (page.csv === undefined) return { ...fields, rows: page.rows };
  return new WithBytes<QueryPage>({ ...fields, rows: [], csv_attached: true }, page.csv);
}

/**
 * Starts reading the next page right away, so the database and the connector
 * work while the gateway writes the page just sent. Bounded: one page.
 */
function readAhead(meta: CursorMeta): void {
  meta.ahead = meta.read().then((page) => ({ ok: true as const, page }), (error: unknown) => ({ ok: false as const, error }));
}

async function nextPage(meta: CursorMeta): Promise<PageOut> {
  const ahead = meta.ahead;
  meta.ahead = null;
  if (!ahead) return meta.read();
  const r = await ahead;
  if (!r.ok) throw r.error;
  return r.page;
}

/** A PageReader that only closes the CSV pager (the registry holds readers; CSV pages are read from the pager). */
const closerFor = (pager: CsvPager) => new PageReader({
  next: async () => ({ done: true, value: undefined }),
  return: async () => {
    await pager.close();
    return { done: true, value: undefined };
  },
});

export interface ConnectorDeps {
  bus: Bus;
  pools: PoolRegistry;
  cursors: CursorRegistry<CursorMeta>;
  policy: AddressPolicyOptions;
  replicaId: string;
  maxRows: number;
  log: Logger;
  /** Resolved configs by tenant and source; delete events evict, the TTL bounds a missed event. */
  configs: TtlCache<ResolvedSource>;
  /** Running queries by the gateway's query id, for `gateway.events.query.cancelled`. */
  cancels: CancelRegistry;
}

// Driver<any>: the registry hands back the driver of the config's own type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDriver = Driver<any>;

/**
 * Maps driver failures to the API's codes (messages are already free of secrets); anything else
 * goes to the contracts' `toAppError`. `signal` is the query's own: a driver that reports any abort
 * as "cancelled" still fails with TIMEOUT when the connector's timer aborted it.
 */
export function mapDriverError(e: unknown, what: "connect" | "query", timeoutMs?: number, signal?: AbortSignal): AppError {
  if (e instanceof DriverError) {
    if (e.kind === "cancelled" && (signal?.reason as DriverError | undefined)?.kind === "timeout") return mapDriverError(signal!.reason, what, timeoutMs);
    if (e.kind === "connection") return new AppError("CONNECTION_FAILED", e.message);
    if (e.kind === "timeout")
      return new AppError("TIMEOUT", timeoutMs ? `Query exceeded its timeout of ${timeoutMs} ms and was cancelled` : e.message);
    if (e.kind === "cancelled") return new AppError("CANCELLED", "Query was cancelled");
    return new AppError(what === "connect" ? "CONNECTION_FAILED" : "QUERY_FAILED", e.message);
  }
  return toAppError(e);
}

const stripMarkers = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith("__enc_")));

export interface ResolvedSource { id: string; version: string; config: DatabaseConfig; driver: AnyDriver }

export const configKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/**
 * The decrypted config of a stored source, from the catalog (cached: it is on every query's path).
 * `version`: the one the caller saw; a cached config of another version is stale (a change event not heard yet).
 */
export function resolveSource(deps: Pick<ConnectorDeps, "bus" | "configs">, tenantId: string, id: string, version?: string): Promise<ResolvedSource> {
  const key = configKey(tenantId, id);
  const cached = deps.configs.get(key);
  if (version && cached && cached.version !== version) deps.configs.delete(key);
  return deps.configs.getOrLoad(key, async () => {
    const r = await deps.bus.request("catalog.config.resolve", { tenant_id: tenantId, id });
    const config = parseDatabaseConfig({ ...stripMarkers(r.config), type: r.config.type ?? r.db_type });
    return { id: r.id, version: r.version, config, driver: await driverFor(config.type) };
  });
}

/** A pooled connection of a stored source (address policy applied when the pool opens). */
export async function leaseSource(deps: ConnectorDeps, src: ResolvedSource): Promise<Lease> {
  try {
    return await deps.pools.lease(src.id, src.version, () => connectChecked(src.driver, src.config, deps.policy));
  } catch (e) {
    throw mapDriverError(e, "connect");
  }
}

/** Opens a connection for a config being tested or connected; the caller closes it. */
export async function throwaway(deps: Pick<ConnectorDeps, "policy">, config: DatabaseConfig): Promise<Connection> {
  try {
    return await connectChecked(await driverFor(config.type), config, deps.policy);
  } catch (e) {
    throw mapDriverError(e, "connect");
  }
}

export async function handleTest(deps: ConnectorDeps, config: DatabaseConfig) {
  const t0 = performance.now();
  try {
    const driver = await driverFor(config.type);
    const test = async (conn: Connection) => {
      try {
        return { ...(await conn.test()), hostKey: conn.sshHostKeySha256?.() };
      } finally {
        await conn.close().catch(() => undefined);
      }
    };
    let tested: Awaited<ReturnType<typeof test>>;
    if ("ssh" in config && config.ssh) {
      // Behind SSH the database is reached from the bastion: no protocol probe from here (it would dial the database host directly).
      tested = await test(await connectChecked(driver, config, deps.policy));
    } else {
      const targets = await dialTargets(driver, config, deps.policy);
      // A port of another protocol is told as such (probed on failure, or when the test hangs).
      tested = await withProtocolCheck(config, targets, async () => test(await driver.connect(config, targets)));
    }
    const { serverVersion, warnings = [], hostKey } = tested;
    return {
      message: "Connection successful", latency_ms: Math.round(performance.now() - t0), server_version: serverVersion, warnings,
      ...(hostKey ? { ssh_host_key_sha256: hostKey } : {}),
    };
  } catch (e) {
    throw mapDriverError(e, "connect");
  }
}

export async function handleIntrospect(deps: ConnectorDeps, req: ParsedRequestOf<"connector.introspect">) {
  if (req.config) {
    const conn = await throwaway(deps, req.config);
    try {
      return { schema: buildSchema(await conn.introspect()) };
    } catch (e) {
      throw mapDriverError(e, "query");
    } finally {
      await conn.close().catch(() => undefined);
    }
  }
  if (!req.id) throw new AppError("VALIDATION", "Send id (a stored source) or config (a source being connected)");
  if (req.store && req.store.actor.tenant_id !== req.tenant_id) throw new AppError("VALIDATION", "store.actor must belong to tenant_id");
  const src = await resolveSource(deps, req.tenant_id, req.id);
  const lease = await leaseSource(deps, src);
  let live: { json: TablesJson } | { schema: SourceSchema };
  try {
    live = lease.conn.introspectJson ? { json: await lease.conn.introspectJson() } : { schema: buildSchema(await lease.conn.introspect()) };
  } catch (e) {
    throw mapDriverError(e, "query");
  } finally {
    lease.release();
  }
  const actor = req.store?.actor;
  if ("schema" in live) {
    const { schema } = live;
    if (!actor) return { schema };
    return { schema, changes: await storeSchema(deps, actor, src.id, JSON.stringify(schema.tables), schema.last_updated, () => schema) };
  }
  // Tables printed as JSON by the database: the reply is assembled as text (buildSchema's field order) and never parsed here.
  const { tablesJson, schemas, totalRows } = live.json;
  const lastUpdated = new Date().toISOString();
  const schemaJson = `{"tables":${tablesJson},"schemas":${JSON.stringify(schemas)},"total_rows":${totalRows},"last_updated":"${lastUpdated}"}`;
  if (!actor) return new RawJson(`{"schema":${schemaJson}}`);
  const changes = await storeSchema(deps, actor, src.id, tablesJson, lastUpdated, () => JSON.parse(schemaJson) as SourceSchema);
  return new RawJson(`{"schema":${schemaJson},"changes":${JSON.stringify(changes)}}`);
}

/**
 * Stores a fresh schema from here, so it crosses the bus once more instead of twice
 * (gateway → catalog → gateway). Tables unchanged (the usual refresh): the catalog
 * needs only their hash and last_updated, not megabytes of JSON.
 */
async function storeSchema(
  deps: ConnectorDeps, actor: Actor, id: string, tablesJson: string, lastUpdated: string, schema: () => SourceSchema,
): Promise<SchemaChange[]> {
  const tables_sha256 = createHash("sha256").update(tablesJson).digest("base64url");
  const touched = await deps.bus.request("catalog.schema.touch", { actor, id, tables_sha256, last_updated: lastUpdated });
  if (touched.stored) return [];
  return (await deps.bus.request("catalog.schema.put", { actor, id, schema: schema(), echo: false }, { timeoutMs: 120_000 })).changes;
}

const metaBytes = (page: Partial<QueryPage>) => Buffer.byteLength(JSON.stringify(page)) + 256;

export async function handleQuery(deps: ConnectorDeps, req: ParsedRequestOf<"connector.query">): Promise<PageReply> {
  const started = performance.now();
  const src = await resolveSource(deps, req.tenant_id, req.id, req.config_version);
  if (!req.read_only && src.config.allow_writes !== true)
    throw new AppError("FORBIDDEN", 'This data source was connected without allow_writes; reconnect it with "allow_writes": true to run writes');

  let text: string;
  let params: unknown[];
  const isMongo = src.driver.dialect === "mongodb";
  if (req.pipeline || req.collection) {
    if (!isMongo) throw new AppError("VALIDATION", "collection and pipeline are for MongoDB sources; send sql or query_config");
    if (req.sql || req.query_config || !req.pipeline || !req.collection) throw new AppError("VALIDATION", "Send collection with pipeline, and neither sql nor query_config");
    text = JSON.stringify({ collection: req.collection, pipeline: req.pipeline });
    params = [];
  } else if (req.sql && isMongo) {
    throw new AppError("VALIDATION", 'MongoDB sources take {"collection": "...", "pipeline": [...]} or a query_config instead of sql');
  } else if (req.query_config) {
    if (req.sql) throw new AppError("VALIDATION", "Send either sql or query_config (exactly one)");
    const { source } = await deps.bus.request("catalog.source.get", { actor: { tenant_id: req.tenant_id, user_id: "connector" }, id: req.id });
    const compiled = compileQueryConfig(src.driver.dialect, req.query_config, source.schema as SourceSchema | null);
    text = compiled.sql;
    params = compiled.params;
  } else if (req.sql) {
    text = req.sql;
    params = req.params ?? [];
  } else throw new AppError("VALIDATION", "Send either sql or query_config (exactly one)");

  // An export reads everything unless the request gives a limit.
  const cap = req.stream ? req.limit ?? Number.POSITIVE_INFINITY : Math.min(req.limit ?? deps.maxRows, deps.maxRows);
  const lease = await leaseSource(deps, src);
  const abort = new AbortController();
  // A capped query is bounded by its timeout from start to last page; a stream only per statement (on the server).
  const timer = req.stream
    ? null
    : setTimeout(() => {
      abort.abort(new DriverError("timeout", `Query exceeded its timeout of ${req.timeout_ms} ms and was cancelled`));
      // A parked cursor nobody pulls would otherwise hold its connection until the idle close.
      if (meta.cursorId) void deps.cursors.close(meta.cursorId);
    }, req.timeout_ms);
  timer?.unref();
  const meta: CursorMeta = {
    lease, abort, timer, cap, rowCount: 0, started, budget: 0, read: () => Promise.reject(new Error("no reader")), ahead: null, unregister: () => {},
  };
  if (req.query_id) {
    meta.unregister = deps.cancels.register(req.query_id, req.tenant_id, () => {
      abort.abort(new DriverError("cancelled", "Query was cancelled"));
      // A parked cursor: its read-ahead stops with the signal; closing gives the connection back now.
      if (meta.cursorId) void deps.cursors.close(meta.cursorId);
    });
  }
  const cleanup = () => {
    if (meta.timer) clearTimeout(meta.timer);
    meta.unregister();
    lease.release();
  };

  let reader: PageReader;
  let columns;
  let csv: { pager: CsvPager; stream: CsvStream } | null = null;
  try {
    if (req.format === "csv" && req.stream && lease.conn.copyCsv) {
      const stream = await lease.conn.copyCsv(text, params, {
        readOnly: req.read_only, timeoutMs: req.timeout_ms, signal: abort.signal, ...(Number.isFinite(cap) ? { limit: cap } : {}),
      });
      if (stream) csv = { pager: new CsvPager(stream.chunks), stream };
    }
    if (csv) {
      columns = csv.stream.columns;
      reader = closerFor(csv.pager);
    } else {
      const stream = await lease.conn.query(text, params, {
        readOnly: req.read_only, timeoutMs: req.timeout_ms, signal: abort.signal,
        batchRows: Number.isFinite(cap) ? Math.min(cap + 1, BATCH_ROWS) : BATCH_ROWS,
        // One row past the cap tells whether the result was truncated; nothing beyond it is ever read.
        ...(cap + 1 <= BATCH_ROWS ? { maxRows: cap + 1 } : {}),
      });
      columns = stream.columns;
      reader = new PageReader(stream.batches);
    }
  } catch (e) {
    cleanup();
    throw mapDriverError(e, "query", req.timeout_ms, abort.signal);
  }

  meta.budget = pageBudget(deps.bus.maxPayload, metaBytes({ cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: "x".repeat(36) }, row_count: 0, execution_time_ms: 0 }));
  const budget = pageBudget(deps.bus.maxPayload, metaBytes({ columns, cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: "x".repeat(36) } }));
  if (csv) {
    const { pager, stream } = csv;
    meta.read = () => readCsvPage(pager, stream, meta);
  } else meta.read = () => readPage(reader, meta, meta.budget);
  let page: PageOut;
  try {
    page = csv ? await readCsvPage(csv.pager, csv.stream, meta, budget) : await readPage(reader, meta, budget);
  } catch (e) {
    await reader.close().catch(() => undefined);
    cleanup();
    throw mapDriverError(e, "query", req.timeout_ms, abort.signal);
  }
  const execution_time_ms = Math.round(performance.now() - started);
  if (page.done) {
    await reader.close().catch(() => undefined);
    cleanup();
    return reply(page, { columns, done: true, truncated: page.truncated, row_count: meta.rowCount, execution_time_ms });
  }
  let id: string;
  try {
    id = deps.cursors.add(reader, meta);
    meta.cursorId = id;
  } catch (e) {
    await reader.close().catch(() => undefined);
    cleanup();
    throw e;
  }
  readAhead(meta);
  return reply(page, {
    columns, done: false, truncated: false, row_count: meta.rowCount, execution_time_ms,
    cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id },
  });
}

/** One page of server-made CSV; the row count is exact once COPY reports it. */
async function readCsvPage(pager: CsvPager, stream: CsvStream, meta: CursorMeta, budget = meta.budget): Promise<PageOut> {
  const csv = await pager.next(budget);
  meta.rowCount = stream.rowCount() ?? pager.lines;
  return { rows: [], csv, done: pager.done, truncated: false };
}

/** One page within the cap; `truncated` when the cap cut rows that exist. */
async function readPage(reader: PageReader, meta: CursorMeta, budget: number): Promise<PageOut> {
  const rows = await reader.next(budget, meta.cap - meta.rowCount);
  meta.rowCount += rows.length;
  const more = await reader.hasMore();
  if (!more) return { rows, done: true, truncated: false };
  if (meta.rowCount >= meta.cap) return { rows, done: true, truncated: true };
  return { rows, done: false, truncated: false };
}

export async function handleCursor(deps: ConnectorDeps, req: ParsedRequestOf<"connector.cursor.*">): Promise<PageReply> {
  if (req.action === "close") {
    let rowCount = 0;
    let started = performance.now();
    await deps.cursors.use(req.id, async (_r, meta) => {
      rowCount = meta.rowCount;
      started = meta.started;
    }).catch(() => undefined);
    await deps.cursors.close(req.id);
    return { rows: [], done: true, truncated: false, row_count: rowCount, execution_time_ms: Math.round(performance.now() - started) };
  }
  let result: { page: PageOut; meta: CursorMeta };
  try {
    result = await deps.cursors.use(req.id, async (reader, meta) => {
      const page = await nextPage(meta).catch((e: unknown) => { throw mapDriverError(e, "query", undefined, meta.abort.signal); });
      // Not after a close that raced this pull (the reader is then done).
      if (!page.done && !reader.done) readAhead(meta);
      return { page, meta };
    });
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw mapDriverError(e, "query");
  }
  const { page, meta } = result;
  if (page.done) await deps.cursors.close(req.id);
  return reply(page, {
    done: page.done, truncated: page.truncated, row_count: meta.rowCount,
    execution_time_ms: Math.round(performance.now() - meta.started),
    ...(page.done ? {} : { cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: req.id } }),
  });
}
