/**
 * MySQL / MariaDB driver on mysql2: one pool per source, read-only enforced by
 * the server (START TRANSACTION READ ONLY, always rolled back), statement
 * timeouts on the server (MariaDB max_statement_time, MySQL max_execution_time)
 * plus KILL QUERY from a second connection on timeout, abort or early return,
 * and rows streamed with back-pressure in batches.
 */
import mysql from "mysql2";
import type { FieldPacket, Pool, PoolConnection, Connection as RawConnection } from "mysql2";
import type { Readable } from "node:stream";
import type { LoginWarning, SchemaTable } from "@dsb/contracts";
import { DriverError, type Connection, type DialTarget, type Driver, type QueryOptions, type QueryStream } from "../types.ts";
import { mysqlPoolOptions, mysqlTargets, POOL_LIMITS, resolveMysqlConfig, type MysqlConfig, type ResolvedMysql } from "./config.ts";
import { poolBusyError, POOL_WAIT_MS, waitForConnection, type PoolWait } from "../shared/pool-wait.ts";
import { bindMysql } from "./bind.ts";
import { mysqlReadOnlyRefusal } from "./read-only.ts";
import { mysqlLoginWarnings, PRIVILEGES_SQL } from "./login-warnings.ts";
import { connectionError, INTERRUPTED_ERRNO, isConnectionError, queryError, TIMEOUT_ERRNOS, type ErrorContext } from "./errors.ts";
import { buildTables, introspectionQueries } from "./introspect.ts";
import { convertRow, mysqlColumns, mysqlConverters } from "./types.ts";

/** Connections older than this are closed instead of reused. */
const RECYCLE_MS = 60 * 60 * 1000;
/** A connection idle longer than this is pinged before use. */
const PREPING_AFTER_MS = 30_000;

type Flavor = "mariadb" | "mysql";

const run = (c: RawConnection | PoolConnection, sql: string, values?: unknown[]) =>
  new Promise<unknown[][]>((resolve, reject) =>
    c.query({ sql, rowsAsArray: true, ...(values ? { values } : {}) }, (err, rows) => (err ? reject(err) : resolve(rows as unknown[][]))),
  );

/** COM_RESET_CONNECTION: session variables, user variables, temporary tables, prepared statements and locks back to a fresh login's. */
const resetSession = (c: PoolConnection) => new Promise<void>((resolve, reject) => c.reset((err) => (err ? reject(err) : resolve())));

const errno = (e: unknown) => (e && typeof e === "object" ? (e as { errno?: number }).errno : undefined);

class MysqlConnection implements Connection {
  private poolP: Promise<{ pool: Pool; tls: boolean }> | null = null;
  private flavorP: Promise<Flavor> | null = null;
  private closed = false;
  private readonly born = new WeakMap<PoolConnection, number>();
  private readonly lastUsed = new WeakMap<PoolConnection, number>();
  private readonly ctx: ErrorContext;

  constructor(private readonly r: ResolvedMysql, private readonly target: DialTarget) {
    this.ctx = { host: r.host, port: target.port, user: r.user, database: r.database, secrets: [r.password] };
  }

  /** The pool; `prefer` tries TLS first and falls back to plain when the server has none. */
  private pool(): Promise<{ pool: Pool; tls: boolean }> {
    if (this.closed) return Promise.reject(new DriverError("connection", "The connection pool is closed"));
    this.poolP ??= this.openPool().catch((e: unknown) => {
      this.poolP = null;
      throw e;
    });
    return this.poolP;
  }

  private async openPool(): Promise<{ pool: Pool; tls: boolean }> {
    const mode = this.r.ssl.mode;
    const pool = guarded(mysql.createPool(mysqlPoolOptions(this.r, this.target, mode !== "disable")));
    if (mode !== "prefer") return { pool, tls: mode !== "disable" };
    try {
      const c = await getConnection(pool);
      this.born.set(c, Date.now());
      c.release();
      return { pool, tls: true };
    } catch (e) {
      pool.end(() => undefined);
      if ((e as { code?: string }).code !== "HANDSHAKE_NO_SSL_SUPPORT") throw e;
      return { pool: guarded(mysql.createPool(mysqlPoolOptions(this.r, this.target, false))), tls: false };
    }
  }

  /**
   * A pooled connection: recycled after an hour, pinged when idle for a while. mysql2 queues a
   * checkout on a full pool without limit (connectTimeout bounds connecting only): a query's wait
   * follows its signal (`acquireFor`), anything else gives up after POOL_WAIT_MS.
   */
  private async acquire(wait: PoolWait = { busy: () => poolBusyError(POOL_LIMITS.connectionLimit, POOL_WAIT_MS) }): Promise<PoolConnection> {
    for (let attempt = 0; ; attempt++) {
      let c: PoolConnection;
      try {
        const { pool } = await this.pool();
        c = await waitForConnection(getConnection(pool), (late) => late.release(), wait);
      } catch (e) {
        throw e instanceof DriverError ? e : connectionError(e, this.ctx);
      }
      const now = Date.now();
      if (!this.born.has(c)) this.born.set(c, now);
      const stale = now - this.born.get(c)! > RECYCLE_MS;
      const idle = now - (this.lastUsed.get(c) ?? now) > PREPING_AFTER_MS;
      if (!stale && idle) {
        const alive = await new Promise<boolean>((res) => c.ping((err) => res(!err)));
        if (alive) return c;
      } else if (!stale) return c;
      c.destroy();
      if (attempt >= 3) throw new DriverError("connection", `Could not get a working connection to ${this.ctx.host}:${this.ctx.port}`);
    }
  }

  private release(c: PoolConnection) {
    this.lastUsed.set(c, Date.now());
    c.release();
  }

  private flavor(c: PoolConnection): Promise<Flavor> {
    this.flavorP ??= run(c, "SELECT VERSION()").then(
      (rows) => (/mariadb/i.test(String(rows[0]?.[0])) ? "mariadb" : "mysql"),
      (e: unknown) => {
        this.flavorP = null;
        throw e;
      },
    );
    return this.flavorP;
  }

  /** KILL QUERY from a fresh connection (the pool may be exhausted); best effort. */
  private async kill(threadId: number): Promise<boolean> {
    const { tls } = await this.pool();
    const killer = mysql.createConnection(mysqlPoolOptions(this.r, this.target, tls));
    killer.on("error", () => undefined);
    try {
      await run(killer, `KILL QUERY ${Number(threadId)}`);
      return true;
    } catch {
      return false;
    } finally {
      killer.destroy();
    }
  }

  /** A connection, unless the timeout passes or the signal aborts while the pool is exhausted. */
  private acquireFor(opts: QueryOptions): Promise<PoolConnection> {
    return new Promise<PoolConnection>((resolve, reject) => {
      let settled = false;
      const cleanup = () => {
        clearTimeout(timer);
        opts.signal.removeEventListener("abort", onAbort);
      };
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(e);
      };
      const timer = setTimeout(() => fail(stopError("timeout", opts.timeoutMs)), Math.max(1, opts.timeoutMs));
      const onAbort = () => fail(stopError(abortKind(opts.signal)));
      opts.signal.addEventListener("abort", onAbort, { once: true });
      this.acquire({ signal: opts.signal, busy: () => poolBusyError(POOL_LIMITS.connectionLimit, POOL_WAIT_MS) }).then((c) => {
        if (settled) return this.release(c);
        settled = true;
        cleanup();
        resolve(c);
      }, fail);
    });
  }

  async test(): Promise<{ serverVersion: string | null; warnings: LoginWarning[] }> {
    const c = await this.acquire();
    try {
      const rows = await run(c, "SELECT VERSION()");
      // Best effort: a server that hides the view gives no warning rather than a failed test.
      const privileges = await run(c, PRIVILEGES_SQL).catch(() => [] as unknown[][]);
      this.release(c);
      return { serverVersion: rows[0]?.[0] == null ? null : String(rows[0][0]), warnings: mysqlLoginWarnings(privileges.map((r) => String(r[0]))) };
    } catch (e) {
      c.destroy();
      throw isConnectionError(e) ? connectionError(e, this.ctx) : queryError(e, this.ctx);
    }
  }

  async introspect(): Promise<SchemaTable[]> {
    const q = introspectionQueries(this.r.database);
    const c = await this.acquire();
    try {
      const tables = await run(c, q.tables.sql, q.tables.values);
      const columns = await run(c, q.columns.sql, q.columns.values);
      this.release(c);
      return buildTables(tables, columns);
    } catch (e) {
      c.destroy();
      throw queryError(e, this.ctx);
    }
  }

  async query(sql: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream> {
    const text = bindMysql(sql, params);
    if (opts.readOnly) {
      // The text as sent (parameters bound as hex literals, which cannot hide code).
      const refused = mysqlReadOnlyRefusal(text);
      if (refused) throw refused;
    }
    if (opts.signal.aborted) throw stopError(abortKind(opts.signal));
    const deadline = Date.now() + opts.timeoutMs;
    const c = await this.acquireFor(opts);
    // Time spent waiting for a pooled connection counts against the timeout.
    return new RunningQuery(c, text, opts, Math.max(1, deadline - Date.now()), this.ctx, {
      flavor: () => this.flavor(c),
      kill: (id) => this.kill(id),
      release: (conn) => this.release(conn),
    }).start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const p = this.poolP;
    this.poolP = null;
    if (!p) return;
    const { pool } = await p.catch(() => ({ pool: null }));
    if (pool) await new Promise<void>((res) => pool.end(() => res()));
  }
}

/**
 * mysql2 removes a pooled connection on its first 'error' with a `once`
 * listener; a second error on an idle socket (server restart) would be an
 * unhandled 'error' event and end the process. The next use finds it dead.
 */
function guarded(pool: Pool): Pool {
  pool.on("connection", (c) => c.on("error", () => undefined));
  return pool;
}

const getConnection = (pool: Pool) =>
  new Promise<PoolConnection>((resolve, reject) => pool.getConnection((err, c) => (err ? reject(err) : resolve(c))));

type StopKind = "timeout" | "cancelled";

const abortKind = (s: AbortSignal): StopKind => ((s.reason as { name?: string } | undefined)?.name === "TimeoutError" ? "timeout" : "cancelled");

function stopError(kind: StopKind, timeoutMs?: number): DriverError {
  return kind === "timeout"
    ? new DriverError("timeout", `The query ran longer than its timeout${timeoutMs ? ` of ${timeoutMs} ms` : ""} and was cancelled on the server`)
    : new DriverError("cancelled", "The query was cancelled");
}

interface Hooks {
  flavor(): Promise<Flavor>;
  kill(threadId: number): Promise<boolean>;
  release(c: PoolConnection): void;
}

/** One statement on one pooled connection, from setup to rollback/release. */
class RunningQuery {
  private stream: Readable | null = null;
  private fields: FieldPacket[] | null = null;
  private ended = false;
  private failure: unknown = null;
  private stopped: StopKind | null = null;
  private finishing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private readonly onAbort = () => void this.stop(abortKind(this.opts.signal));

  constructor(
    private readonly c: PoolConnection,
    private readonly sql: string,
    private readonly opts: QueryOptions,
    /** What is left of opts.timeoutMs after waiting for the connection. */
    private readonly budgetMs: number,
    private readonly ctx: ErrorContext,
    private readonly hooks: Hooks,
  ) {}

  async start(): Promise<QueryStream> {
    const { opts, c } = this;
    this.timer = setTimeout(() => void this.stop("timeout"), this.budgetMs);
    opts.signal.addEventListener("abort", this.onAbort, { once: true });
    try {
      const flavor = await this.hooks.flavor();
      // The server enforces the timeout too; the timer above kills what it misses (MySQL only limits SELECT).
      const limit = flavor === "mariadb" ? `max_statement_time = ${Math.max(0.001, this.budgetMs / 1000)}` : `max_execution_time = ${Math.max(1, Math.ceil(this.budgetMs))}`;
      await run(c, `SET SESSION ${limit}, time_zone = '+00:00'`);
      // The session mode matters most: DDL commits the open transaction implicitly and would
      // then run, but a READ ONLY session refuses it (ER 1792). Set on every use of the connection.
      await run(c, opts.readOnly ? "SET SESSION TRANSACTION READ ONLY" : "SET SESSION TRANSACTION READ WRITE");
      if (opts.readOnly) await run(c, "START TRANSACTION READ ONLY");
      if (this.stopped) throw stopError(this.stopped, opts.timeoutMs);
      this.fields = await this.open();
    } catch (e) {
      await this.finish();
      throw this.mapError(e);
    }
    const conv = mysqlConverters(this.fields);
    const self = this;
    const batches: AsyncIterator<unknown[][]> = {
      async next() {
        try {
          const rows = await self.read(self.opts.batchRows);
          if (rows === null) {
            await self.finish();
            return { done: true, value: undefined };
          }
          for (const r of rows) convertRow(r, conv);
          return { done: false, value: rows };
        } catch (e) {
          await self.finish();
          throw self.mapError(e);
        }
      },
      async return() {
        await self.finish();
        return { done: true, value: undefined };
      },
    };
    const columns = this.fields.length > 0 ? mysqlColumns(this.fields) : [{ name: "affected_rows", type: "BIGINT" }];
    return { columns, batches };
  }

  /** Starts the statement; resolves with its fields (an OK packet for DML has none). */
  private open(): Promise<FieldPacket[]> {
    const q = this.c.query({ sql: this.sql, rowsAsArray: true });
    const stream = q.stream({ highWaterMark: Math.max(1, this.opts.batchRows) });
    this.stream = stream;
    return new Promise<FieldPacket[]>((resolve, reject) => {
      let gotFields = false;
      const poke = () => {
        const w = this.wake;
        this.wake = null;
        w?.();
      };
      stream.on("fields", (f: FieldPacket[] | undefined) => {
        gotFields = true;
        resolve(f ?? []);
      });
      stream.on("readable", poke);
      stream.on("end", () => {
        this.ended = true;
        if (!gotFields) resolve([]);
        poke();
      });
      stream.on("error", (e) => {
        this.failure = e;
        this.ended = true;
        if (!gotFields) reject(e);
        poke();
      });
      stream.on("close", () => {
        if (!gotFields) reject(this.failure ?? (this.stopped ? stopError(this.stopped, this.opts.timeoutMs) : new DriverError("query", "The connection closed before the query returned")));
        poke();
      });
    });
  }

  /** Up to `n` rows already buffered or the next that arrive; null at the end. */
  private async read(n: number): Promise<unknown[][] | null> {
    const stream = this.stream!;
    for (;;) {
      if (this.stopped) throw stopError(this.stopped, this.opts.timeoutMs);
      if (this.failure) throw this.failure;
      const rows: unknown[][] = [];
      let row: unknown[] | null;
      while (rows.length < n && (row = stream.read() as unknown[] | null) !== null)
        // A statement without a result set yields its OK packet: report affected rows.
        rows.push(Array.isArray(row) ? row : [(row as { affectedRows?: number }).affectedRows ?? 0]);
      if (rows.length > 0) return rows;
      if (this.ended || stream.destroyed) {
        if (this.stopped) throw stopError(this.stopped, this.opts.timeoutMs);
        if (this.failure) throw this.failure;
        return null;
      }
      await new Promise<void>((res) => (this.wake = res));
    }
  }

  private async stop(kind: StopKind) {
    if (this.finishing || this.stopped) return;
    this.stopped = kind;
    await this.finish();
  }

  /**
   * Gives the connection back: after a complete read, ROLLBACK (read-only) or
   * COM_RESET_CONNECTION (read-write: whatever session state the statement set
   * must not reach the next user of the pool) and release; otherwise KILL QUERY the statement and destroy the connection, so
   * no half-read result or kill flag reaches the next user of the pool.
   */
  private finish(): Promise<void> {
    this.finishing ??= (async () => {
      if (this.timer) clearTimeout(this.timer);
      this.opts.signal.removeEventListener("abort", this.onAbort);
      const { c } = this;
      const failure = this.failure;
      // Fully read, or failed with an ordinary SQL error: the connection is fine once rolled back.
      const reusable =
        !this.stopped && this.stream !== null && this.ended &&
        (!failure || (!isConnectionError(failure) && errno(failure) !== undefined && errno(failure) !== INTERRUPTED_ERRNO && !TIMEOUT_ERRNOS.has(errno(failure)!)));
      if (reusable) {
        try {
          if (this.opts.readOnly) await run(c, "ROLLBACK");
          else await resetSession(c);
          this.hooks.release(c);
          return;
        } catch {
          /* destroy below */
        }
      } else if (!this.ended || this.stopped) {
        // Still running on the server (or we cannot tell): stop it there first.
        await this.hooks.kill(c.threadId).catch(() => false);
      }
      this.stream?.destroy();
      c.destroy();
    })();
    return this.finishing;
  }

  private mapError(e: unknown): DriverError {
    if (this.stopped) return stopError(this.stopped, this.opts.timeoutMs);
    const n = errno(e);
    if (n !== undefined && TIMEOUT_ERRNOS.has(n)) return stopError("timeout", this.opts.timeoutMs);
    return queryError(e, this.ctx);
  }
}

/** MySQL and MariaDB (type "mysql", alias "mariadb"). */
export const mysqlDriver: Driver<MysqlConfig> = {
  type: "mysql",
  dialect: "mysql",
  targets: mysqlTargets,
  async connect(config: MysqlConfig, targets: DialTarget[]): Promise<Connection> {
    const target = targets[0];
    if (!target) throw new DriverError("connection", "No checked address to dial for the MySQL host");
    return new MysqlConnection(resolveMysqlConfig(config), target);
  },
};
