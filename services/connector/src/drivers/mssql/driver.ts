import type { ColumnMeta } from "@dsb/contracts";
import type { Connection, DialTarget, Driver, QueryOptions, QueryStream } from "../types.ts";
import { DriverError } from "../types.ts";
import { mssqlSettings, tediousOptions, type MssqlConfig, type MssqlSettings } from "./config.ts";
import { mssqlConnectError, mssqlQueryError } from "./errors.ts";
import { assembleSchema, COLUMNS_SQL, OBJECTS_SQL } from "./introspect.ts";
import { DEFAULT_POOL, SessionPool, type PoolOptions } from "../shared/session-pool.ts";
import { poolBusyError, POOL_WAIT_MS } from "../shared/pool-wait.ts";
import { mssqlReadOnlyViolation } from "./read-only.ts";
import { mssqlLoginWarnings } from "./login-warnings.ts";
import { readOnlyRefusal } from "../read-only.ts";
import { tediousConnect, type TdsClient, type TdsColumn, type TdsConnect, type TdsParam } from "./tds-client.ts";
import { mssqlTypeName, mssqlValue } from "./types.ts";

/** Rolls back whatever the batch left open, so a pooled connection never carries a transaction. */
const ROLLBACK_SQL = "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION";

interface Collected { columns: TdsColumn[]; rows: unknown[][] }

/** Runs a statement to completion, keeping the first result set. */
async function collect(client: TdsClient, sql: string, params: readonly TdsParam[] = []): Promise<Collected> {
  const out: Collected = { columns: [], rows: [] };
  let sets = 0;
  await client.request(sql, params, {
    columns: (cols) => { if (++sets === 1) out.columns = cols; },
    row: (values) => { if (sets === 1) out.rows.push(values); },
  }).done;
  return out;
}

const isCancel = (err: unknown) => (err as { code?: string } | null)?.code === "ECANCEL";

class MssqlConnection implements Connection {
  private readonly pool: SessionPool<TdsClient>;
  private readonly secrets: (string | undefined)[];

  constructor(private readonly s: MssqlSettings, target: DialTarget, connect: TdsConnect, private readonly poolOpts: PoolOptions) {
    this.secrets = [s.password];
    const where = { host: target.hostname, port: target.port, user: s.user, password: s.password };
    this.pool = new SessionPool(
      () => connect(tediousOptions(s, target)).catch((err: unknown) => { throw mssqlConnectError(err, where); }),
      async (c) => { await collect(c, "SELECT 1"); },
      poolOpts,
    );
  }

  /** A pooled client; a query waits for one until its signal fires (then fails as a cancelled query), anything else for POOL_WAIT_MS. */
  private async acquire(opts?: QueryOptions) {
    try {
      return await this.pool.acquire({
        signal: opts?.signal,
        aborted: () => new DriverError("cancelled", "Query was cancelled before it started"),
        busy: () => poolBusyError(this.poolOpts.max, POOL_WAIT_MS),
      });
    } catch (err) {
      if (err instanceof DriverError) throw err;
      throw new DriverError("connection", "This SQL Server connection was closed; reconnect the source.");
    }
  }

  private async withClient<T>(fn: (c: TdsClient) => Promise<T>): Promise<T> {
    const lease = await this.acquire();
    try {
      const result = await fn(lease.client);
      lease.release(true);
      return result;
    } catch (err) {
      lease.release(!(err instanceof DriverError && err.kind === "connection"));
      throw err instanceof DriverError ? err : mssqlQueryError(err, this.secrets);
    }
  }

  async test() {
    return this.withClient(async (c) => {
      const r = await collect(c, "SELECT @@VERSION AS version, IS_SRVROLEMEMBER('sysadmin') AS sa, IS_SRVROLEMEMBER('bulkadmin') AS bulk");
      const [v, sa, bulk] = r.rows[0] ?? [];
      // @@VERSION is several lines; the first names product and build.
      return { serverVersion: typeof v === "string" ? v.split("\n")[0]!.trim() : null, warnings: mssqlLoginWarnings(sa === 1, bulk === 1) };
    });
  }

  async introspect() {
    return this.withClient(async (c) => {
      const objects = await collect(c, OBJECTS_SQL);
      const columns = await collect(c, COLUMNS_SQL);
      return assembleSchema(objects.rows, columns.rows);
    });
  }

  async query(sql: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream> {
    if (opts.readOnly) {
      const why = mssqlReadOnlyViolation(sql);
      if (why) throw readOnlyRefusal(why);
    }
    if (opts.signal.aborted) throw new DriverError("cancelled", "Query was cancelled before it started");
    const lease = await this.acquire(opts);
    return runStreaming(lease.client, sql, params, opts, this.secrets, lease.release);
  }

  async close() {
    await this.pool.close();
  }
}

/**
 * Starts `sql` on a leased client and exposes its first result set as batches.
 * Rows are buffered up to two batches, then the TDS stream is paused (backpressure).
 * A timer and the abort signal send ATTENTION (cancel on the server); finishing
 * always rolls back (read-only enforcement and pool hygiene) and releases the client.
 */
async function runStreaming(
  client: TdsClient, sql: string, params: readonly unknown[], opts: QueryOptions,
  secrets: (string | undefined)[], release: (reusable: boolean) => void,
): Promise<QueryStream> {
  let reusable = true;
  const begin = async () => {
    try { await collect(client, "BEGIN TRANSACTION"); } catch (err) { release(false); throw mssqlQueryError(err, secrets); }
  };
  if (opts.readOnly) await begin();

  let columns: TdsColumn[] | null = null;
  let sets = 0;
  const buffer: unknown[][] = [];
  let ended = false;
  let failure: DriverError | null = null;
  let stopReason: "timeout" | "cancelled" | "closed" | null = null;
  let paused = false;
  let wake: (() => void) | null = null;
  const notify = () => { const w = wake; wake = null; w?.(); };
  const high = Math.max(1, opts.batchRows) * 2;

  const tdsParams = params.map((value, i) => ({ name: `p${i + 1}`, value }));
  const req = client.request(sql, tdsParams, {
    columns: (cols) => { sets++; if (sets === 1) { columns = cols; notify(); } },
    row: (values) => {
      if (sets !== 1 || !columns) return;
      const cols = columns;
      buffer.push(values.map((v, i) => mssqlValue(cols[i]!, v)));
      if (buffer.length >= high && !paused) { paused = true; req.pause(); }
      if (buffer.length >= opts.batchRows) notify();
    },
  });

  const stop = (reason: "timeout" | "cancelled" | "closed") => {
    if (ended || stopReason) return;
    stopReason = reason;
    if (paused) { paused = false; req.resume(); }
    client.cancel();
  };
  const timer = setTimeout(() => stop("timeout"), opts.timeoutMs);
  const onAbort = () => stop("cancelled");
  opts.signal.addEventListener("abort", onAbort, { once: true });

  const finished = req.done.then(
    () => undefined,
    (err: unknown) => {
      if (isCancel(err) || stopReason) failure = stopReason === "closed" ? null : stopError(stopReason ?? "cancelled", opts.timeoutMs);
      else failure = mssqlQueryError(err, secrets);
      if (failure?.kind === "connection") reusable = false;
    },
  ).then(async () => {
    ended = true;
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", onAbort);
    try { await collect(client, ROLLBACK_SQL); } catch { reusable = false; }
    // A read-write batch may have SET options or made #temp tables: sp_reset_connection before the next user.
    if (reusable && !opts.readOnly) await client.reset().catch(() => { reusable = false; });
    release(reusable);
    notify();
  });

  // Wait until the first result set's columns arrive, or the batch ends without one.
  await new Promise<void>((resolve) => {
    if (columns) return resolve();
    wake = resolve;
    void finished.then(() => resolve());
  });
  if (!columns && failure) { await finished; throw failure; }

  const meta: ColumnMeta[] = (columns ?? ([] as TdsColumn[])).map((c) => ({ name: c.name, type: mssqlTypeName(c) }));
  const batchRows = Math.max(1, opts.batchRows);
  const batches: AsyncIterator<unknown[][]> = {
    async next() {
      for (;;) {
        if (buffer.length >= batchRows || (ended && buffer.length > 0)) {
          const batch = buffer.splice(0, batchRows);
          if (paused && buffer.length < high) { paused = false; req.resume(); }
          return { done: false, value: batch };
        }
        if (ended) {
          await finished;
          if (failure) throw failure;
          return { done: true, value: undefined };
        }
        if (paused) { paused = false; req.resume(); }
        await new Promise<void>((r) => { wake = r; });
      }
    },
    async return() {
      buffer.length = 0;
      if (!ended) stop("closed");
      await finished;
      return { done: true, value: undefined };
    },
  };
  return { columns: meta, batches };
}

function stopError(reason: "timeout" | "cancelled", timeoutMs: number): DriverError {
  return reason === "timeout"
    ? new DriverError("timeout", `Query exceeded its ${timeoutMs} ms timeout and was cancelled on the server. Narrow the query or raise timeout_ms.`)
    : new DriverError("cancelled", "Query was cancelled on the server.");
}

/** Builds the SQL Server driver over any TdsConnect (the real tedious one, or a fake in tests). */
export function createMssqlDriver(connect: TdsConnect = tediousConnect, poolOpts: PoolOptions = DEFAULT_POOL): Driver<MssqlConfig> {
  return {
    type: "mssql",
    dialect: "mssql",
    targets(config) {
      const s = mssqlSettings(config);
      return [{ hostname: s.host, port: s.port }];
    },
    async connect(config, targets) {
      const s = mssqlSettings(config);
      const target = targets[0];
      if (!target) throw new DriverError("connection", "No checked address to dial for SQL Server");
      return new MssqlConnection(s, target, connect, poolOpts);
    },
  };
}

/** SQL Server over tedious. Connections open lazily: connect() dials nothing, test() proves the login. */
export const mssqlDriver: Driver<MssqlConfig> = createMssqlDriver();
