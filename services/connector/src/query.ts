import { performance } from "node:perf_hooks";
import { CursorRegistry, pageBudget, PageReader, type Bus, type TtlCache } from "@dsb/bus";
import {
  AppError, buildSchema, parseDatabaseConfig, replicaSubject,
  type DatabaseConfig, type ParsedRequestOf, type QueryPage, type SourceSchema,
} from "@dsb/contracts";
import type { Logger } from "@dsb/runtime";
import { connectChecked, type AddressPolicyOptions } from "./address-policy.ts";
import { driverFor } from "./drivers/index.ts";
import { DriverError, type Connection, type Driver } from "./drivers/types.ts";
import type { Lease, PoolRegistry } from "./pools.ts";
import { compileQueryConfig } from "./query-config.ts";

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
}

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
}

// Driver<any>: the registry hands back the driver of the config's own type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDriver = Driver<any>;

/** Maps driver failures to the API's codes; messages are already free of secrets. */
export function toAppError(e: unknown, what: "connect" | "query", timeoutMs?: number): AppError {
  if (e instanceof AppError) return e;
  if (e instanceof DriverError) {
    if (e.kind === "connection") return new AppError("CONNECTION_FAILED", e.message);
    if (e.kind === "timeout")
      return new AppError("TIMEOUT", timeoutMs ? `Query exceeded its timeout of ${timeoutMs} ms and was cancelled` : e.message);
    if (e.kind === "cancelled") return new AppError("QUERY_FAILED", "Query was cancelled");
    return new AppError(what === "connect" ? "CONNECTION_FAILED" : "QUERY_FAILED", e.message);
  }
  return new AppError("INTERNAL", "Internal error", { cause: e });
}

const stripMarkers = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith("__enc_")));

export interface ResolvedSource { id: string; version: string; config: DatabaseConfig; driver: AnyDriver }

export const configKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/** The decrypted config of a stored source, from the catalog (cached: it is on every query's path). */
export function resolveSource(deps: Pick<ConnectorDeps, "bus" | "configs">, tenantId: string, id: string): Promise<ResolvedSource> {
  return deps.configs.getOrLoad(configKey(tenantId, id), async () => {
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
    throw toAppError(e, "connect");
  }
}

/** Opens a connection for a config being tested or connected; the caller closes it. */
export async function throwaway(deps: Pick<ConnectorDeps, "policy">, config: DatabaseConfig): Promise<Connection> {
  try {
    return await connectChecked(await driverFor(config.type), config, deps.policy);
  } catch (e) {
    throw toAppError(e, "connect");
  }
}

export async function handleTest(deps: ConnectorDeps, config: DatabaseConfig) {
  const t0 = performance.now();
  const conn = await throwaway(deps, config);
  try {
    const { serverVersion } = await conn.test();
    return { message: "Connection successful", latency_ms: Math.round(performance.now() - t0), server_version: serverVersion };
  } catch (e) {
    throw toAppError(e, "connect");
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export async function handleIntrospect(deps: ConnectorDeps, req: ParsedRequestOf<"connector.introspect">) {
  if (req.config) {
    const conn = await throwaway(deps, req.config);
    try {
      return { schema: buildSchema(await conn.introspect()) };
    } catch (e) {
      throw toAppError(e, "query");
    } finally {
      await conn.close().catch(() => undefined);
    }
  }
  if (!req.id) throw new AppError("VALIDATION", "Send id (a stored source) or config (a source being connected)");
  if (req.store && req.store.actor.tenant_id !== req.tenant_id) throw new AppError("VALIDATION", "store.actor must belong to tenant_id");
  const src = await resolveSource(deps, req.tenant_id, req.id);
  const lease = await leaseSource(deps, src);
  let schema: SourceSchema;
  try {
    schema = buildSchema(await lease.conn.introspect());
  } catch (e) {
    throw toAppError(e, "query");
  } finally {
    lease.release();
  }
  if (!req.store) return { schema };
  // Stored from here, so the schema crosses the bus once more instead of twice (gateway → catalog → gateway).
  const { changes } = await deps.bus.request("catalog.schema.put", { actor: req.store.actor, id: src.id, schema, echo: false }, { timeoutMs: 120_000 });
  return { schema, changes };
}

const metaBytes = (page: Partial<QueryPage>) => Buffer.byteLength(JSON.stringify(page)) + 256;

export async function handleQuery(deps: ConnectorDeps, req: ParsedRequestOf<"connector.query">): Promise<QueryPage> {
  const started = performance.now();
  const src = await resolveSource(deps, req.tenant_id, req.id);
  if (!req.read_only && src.config.allow_writes !== true)
    throw new AppError("FORBIDDEN", 'This data source was connected without allow_writes; reconnect it with "allow_writes": true to run writes');

  let text: string;
  let params: unknown[];
  if (req.query_config) {
    if (req.sql) throw new AppError("VALIDATION", "Send either sql or query_config (exactly one)");
    const { source } = await deps.bus.request("catalog.source.get", { actor: { tenant_id: req.tenant_id, user_id: "connector" }, id: req.id });
    const compiled = compileQueryConfig(src.driver.dialect, req.query_config, source.schema as SourceSchema | null);
    text = compiled.sql;
    params = compiled.params;
  } else if (req.sql) {
    text = req.sql;
    params = req.params ?? [];
  } else throw new AppError("VALIDATION", "Send either sql or query_config (exactly one)");

  const cap = req.stream ? Number.POSITIVE_INFINITY : Math.min(req.limit ?? deps.maxRows, deps.maxRows);
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
  const meta: CursorMeta = { lease, abort, timer, cap, rowCount: 0, started, budget: 0 };
  const cleanup = () => {
    if (meta.timer) clearTimeout(meta.timer);
    lease.release();
  };

  let reader: PageReader;
  let columns;
  try {
    const stream = await lease.conn.query(text, params, {
      readOnly: req.read_only, timeoutMs: req.timeout_ms, signal: abort.signal,
      batchRows: Number.isFinite(cap) ? Math.min(cap + 1, BATCH_ROWS) : BATCH_ROWS,
    });
    columns = stream.columns;
    reader = new PageReader(stream.batches);
  } catch (e) {
    cleanup();
    throw toAppError(e, "query", req.timeout_ms);
  }

  meta.budget = pageBudget(deps.bus.maxPayload, metaBytes({ cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: "x".repeat(36) }, row_count: 0, execution_time_ms: 0 }));
  const budget = pageBudget(deps.bus.maxPayload, metaBytes({ columns, cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: "x".repeat(36) } }));
  let page: { rows: unknown[][]; done: boolean; truncated: boolean };
  try {
    page = await readPage(reader, meta, budget);
  } catch (e) {
    await reader.close().catch(() => undefined);
    cleanup();
    throw toAppError(e, "query", req.timeout_ms);
  }
  const execution_time_ms = Math.round(performance.now() - started);
  if (page.done) {
    await reader.close().catch(() => undefined);
    cleanup();
    return { columns, rows: page.rows, done: true, truncated: page.truncated, row_count: meta.rowCount, execution_time_ms };
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
  return {
    columns, rows: page.rows, done: false, truncated: false, row_count: meta.rowCount, execution_time_ms,
    cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id },
  };
}

/** One page within the cap; `truncated` when the cap cut rows that exist. */
async function readPage(reader: PageReader, meta: CursorMeta, budget: number) {
  const rows = await reader.next(budget, meta.cap - meta.rowCount);
  meta.rowCount += rows.length;
  const more = await reader.hasMore();
  if (!more) return { rows, done: true, truncated: false };
  if (meta.rowCount >= meta.cap) return { rows, done: true, truncated: true };
  return { rows, done: false, truncated: false };
}

export async function handleCursor(deps: ConnectorDeps, req: ParsedRequestOf<"connector.cursor.*">): Promise<QueryPage> {
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
  let result: { page: Awaited<ReturnType<typeof readPage>>; meta: CursorMeta };
  try {
    result = await deps.cursors.use(req.id, async (reader, meta) => ({ page: await readPage(reader, meta, meta.budget), meta }));
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw toAppError(e, "query");
  }
  const { page, meta } = result;
  if (page.done) await deps.cursors.close(req.id);
  return {
    rows: page.rows, done: page.done, truncated: page.truncated, row_count: meta.rowCount,
    execution_time_ms: Math.round(performance.now() - meta.started),
    ...(page.done ? {} : { cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: req.id } }),
  };
}
