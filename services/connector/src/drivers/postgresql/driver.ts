import pg from "pg";
import { coalesceWrites, pgClientSocket, reclaimer } from "@dsb/runtime";
import Cursor from "pg-cursor";
import type { ColumnMeta, ConfigOf, LoginWarning, SchemaTable, SslMode } from "@dsb/contracts";
import { DriverError, type Connection, type CopyCsvOptions, type CsvStream, type DialTarget, type Dialect, type Driver, type QueryOptions, type QueryStream, type TablesJson } from "../types.ts";
import { pgSsl, resolvePgOptions, type PgOptions, type PgWireConfig } from "./config.ts";
import { CopyOut } from "./copy-out.ts";
import { connectionError, isConnectionLevel, queryError, type ErrorContext } from "./errors.ts";
import { introspectPostgres, introspectPostgresJson, type CatalogQuery } from "./introspect.ts";
import { OneShotQuery, type OneShotResult, type TimeoutScope } from "./one-shot.ts";
import { pgReadOnlyRefusal } from "./read-only.ts";
import { pgLoginWarnings } from "./login-warnings.ts";
import { csvExpr, pgTypes, TYPE_NAMES } from "./types.ts";
import { ForwardedSocket } from "../../ssh/forwarded-socket.ts";
import { poolBusyError, POOL_WAIT_MS, waitForConnection } from "../shared/pool-wait.ts";

/** Pool sizing of DESIGN.md: 5 kept idle, up to 10 more under load. */
export const POOL_BASE = 5;
export const POOL_MAX = 15;
/** Bound on opening one session (TCP, TLS, login); waiting for a free pooled one is bounded by the caller (`checkout`). */
const CONNECT_TIMEOUT_MS = 10_000;
/** Column type names are metadata: on a busy pool a read shows the oid rather than wait longer for a session to look them up. */
const TYPE_NAMES_WAIT_MS = 10_000;
/** A connection idle longer than this is pinged before it is handed out. */
const PREPING_AFTER_MS = 30_000;
/** Extra time the client waits past the server's statement_timeout before cancelling itself. */
const CLIENT_GRACE_MS = 2_000;
/** How long a cancelled read may take to settle before its socket is cut. */
const KILL_AFTER_CANCEL_MS = 5_000;
/**
 * Shortest statement timeout a session keeps after a read (see `timeoutScope`): anything shorter
 * stays SET LOCAL, so that no pooled session carries a timeout that could cut a ping or a type lookup.
 */
const KEEP_TIMEOUT_FROM_MS = 1_000;

/** What differs between PostgreSQL and Redshift on the same wire protocol. */
export interface PgFlavor {
  type: "postgresql" | "redshift";
  defaultPort: number;
  introspect(q: CatalogQuery): Promise<SchemaTable[]>;
}

const versionOf = (v: string) => v.replace(/,\s*compiled by.*$/i, "").trim();

/** Why a running statement is being stopped, from the signal's reason. */
const abortReason = (signal: AbortSignal): "timeout" | "cancelled" => {
  const r = signal.reason as { kind?: string; name?: string } | undefined;
  return r?.kind === "timeout" || r?.name === "TimeoutError" ? "timeout" : "cancelled";
};


/**
 * The wire protocol sends a statement as a NUL-terminated string: one with a NUL in it
 * would reach the server cut short and break the session ("insufficient data left in
 * message"), so it is refused here as the statement's fault.
 */
function refuseNul(sql: string): void {
  if (sql.includes("\u0000")) throw new DriverError("query", "The SQL contains a NUL character (U+0000), which PostgreSQL cannot receive; remove it from the statement");
}

/**
 * The rows of the last statement: pg answers a simple query of several statements
 * (`set local …; select …`) with one result per statement, its type says one.
 */
function lastRows(r: pg.QueryResult | pg.QueryResult[]): Record<string, unknown>[] {
  const last = Array.isArray(r) ? r[r.length - 1] : r;
  return (last?.rows ?? []) as Record<string, unknown>[];
}

/** Each row to `onRow` as it arrives, none kept (see CatalogQuery). */
function streamRows(client: pg.ClientBase, sql: string, params: unknown[] | undefined, onRow: (row: Record<string, unknown>) => void): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const query = new pg.Query(sql, params);
    let failed: unknown = null;
    // A throw inside pg's row event would break the session's protocol parsing: kept for the end instead.
    query.on("row", (row: Record<string, unknown>) => {
      if (failed === null) try { onRow(row); } catch (e) { failed = e; }
    });
    query.on("error", reject);
    query.on("end", () => (failed === null ? resolve([]) : reject(failed)));
    client.query(query);
  });
}

/**
 * One pg pool for one source config. Dials only the checked address; TLS
 * verifies the typed host name.
 */
export class PgConnection implements Connection {
  private pool: pg.Pool | null = null;
  private sslMode: SslMode;
  private readonly lastUsed = new WeakMap<pg.PoolClient, number>();
  /** The statement_timeout a pooled session keeps at session level (`timeoutScope`); absent: the server's default. */
  private readonly sessionTimeout = new WeakMap<pg.PoolClient, number>();
  private readonly typeNames = new Map<number, string>();
  private closing: Promise<void> | null = null;
  readonly ctx: ErrorContext;

  constructor(private readonly o: PgOptions, private readonly target: DialTarget, private readonly flavor: PgFlavor) {
    this.sslMode = o.sslMode;
    this.ctx = { hostname: target.hostname, port: target.port, user: o.user, secrets: [o.password, o.key] };
    if (flavor.type === "postgresql") this.introspectJson = (onTable) => this.catalogQueries((q) => introspectPostgresJson(q, onTable));
  }

  /** Client settings; user/password/database always explicit so PG* variables of the connector never apply. */
  private clientConfig(mode: SslMode): pg.ClientConfig {
    const password = this.o.password ?? "";
    return {
      host: this.target.address, port: this.target.port,
      // Behind SSH every session is a channel of the source's tunnel.
      ...(this.target.forward ? { stream: () => new ForwardedSocket(this.target.forward!) } : {}),
      user: this.o.user ?? "postgres", database: this.o.database ?? this.o.user ?? "postgres",
      password: () => password,
      ssl: pgSsl(this.o, this.target, mode),
      application_name: this.o.applicationName ?? "dsb-connector",
      types: pgTypes,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    };
  }

  poolStats(): { total: number; idle: number; waiting: number } {
    const p = this.pool;
    return p ? { total: p.totalCount, idle: p.idleCount, waiting: p.waitingCount } : { total: 0, idle: 0, waiting: 0 };
  }

  private getPool(): pg.Pool {
    if (this.closing) throw new DriverError("connection", "This connection pool is closed");
    if (!this.pool) {
      const config = this.clientConfig(this.sslMode);
      // pg-pool takes connectionTimeoutMillis both as each new client's connect timeout and as the
      // limit on waiting in its queue, and reports the latter as "timeout exceeded when trying to
      // connect". The pool gets none (`checkout` bounds the wait by the query's signal); its clients
      // are built from our config, whose connectionTimeoutMillis pg's Client enforces while connecting.
      const Client = class extends pg.Client {
        constructor() {
          super(config);
        }
      };
      const pool = new pg.Pool({ ...config, connectionTimeoutMillis: 0, Client, min: POOL_BASE, max: POOL_MAX, idleTimeoutMillis: 60_000, maxLifetimeSeconds: 3600 });
      // A dead idle client is dropped by the pool; a checked-out one must not crash the process either.
      pool.on("error", () => undefined);
      pool.on("connect", (c) => {
        c.on("error", () => undefined);
        const socket = pgClientSocket(c);
        if (socket) coalesceWrites(socket);
      });
      this.pool = pool;
    }
    return this.pool;
  }

  /**
   * A free pooled session, waited for until `query`'s signal fires (then the error of a query
   * stopped by it), or, without a query, for POOL_WAIT_MS (then "all connections busy").
   */
  private connectFrom(pool: pg.Pool, query: { signal: AbortSignal; timeoutMs: number } | undefined): Promise<pg.PoolClient> {
    // An idle session and nobody ahead: pg-pool hands it over at once, with no wait to bound (the usual case).
    if (pool.idleCount > 0 && pool.waitingCount === 0) return pool.connect();
    return waitForConnection(pool.connect(), (c) => c.release(), {
      signal: query?.signal,
      aborted: () => queryError(null, this.ctx, { timeoutMs: query!.timeoutMs, reason: abortReason(query!.signal) }),
      busy: () => poolBusyError(POOL_MAX, POOL_WAIT_MS),
    });
  }

  /**
   * A validated client: pinged when it sat idle, retried once on a dead one; `prefer` falls back to plain text.
   * `query`: the signal and timeout of the query it is for (see `connectFrom`).
   */
  private async checkout(query?: { signal: AbortSignal; timeoutMs: number }): Promise<pg.PoolClient> {
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient;
      const pool = this.getPool();
      const mode = this.sslMode;
      try {
        client = await this.connectFrom(pool, query);
      } catch (e) {
        // Our own wait ended (signal, or every session busy): nothing to retry.
        if (e instanceof DriverError) throw e;
        // Concurrent first queries all fail on the TLS attempt; the first switches the pool, the rest retry on it.
        if (mode === "prefer" && /does not support SSL/i.test((e as Error).message ?? "")) {
          if (this.sslMode === "prefer") {
            this.pool = null;
            this.sslMode = "disable";
          }
          // Not ended while checkouts wait in its queue: pg-pool serves no waiter once ending, so they
          // would wait until their signal or POOL_WAIT_MS ends the wait. Each waiter's own TLS attempt
          // fails at once instead, and the last one to leave ends the pool.
          if (pool.waitingCount === 0) void pool.end().catch(() => undefined);
          continue;
        }
        if (this.pool !== pool && attempt < 3) continue;
        throw connectionError(e, this.ctx);
      }
      const last = this.lastUsed.get(client);
      if (last !== undefined && Date.now() - last > PREPING_AFTER_MS) {
        try {
          await client.query("select 1");
        } catch (e) {
          client.release(true);
          if (attempt < 2) continue;
          throw connectionError(e, this.ctx);
        }
      }
      // Stopped during the ping: the session goes back unused, the statement never starts.
      if (query?.signal.aborted) {
        client.release();
        throw queryError(null, this.ctx, { timeoutMs: query.timeoutMs, reason: abortReason(query.signal) });
      }
      return client;
    }
  }

  private giveBack(client: pg.PoolClient, destroy: boolean): void {
    this.lastUsed.set(client, Date.now());
    client.release(destroy);
  }

  /**
   * Back to the pool once the transaction is over. After a read-write statement the
   * session may carry state (SET, SET ROLE, SET SESSION AUTHORIZATION, temp tables,
   * prepared statements, LISTEN, advisory locks) that must not reach the next user:
   * DISCARD ALL drops it; Redshift has no DISCARD, so its session is closed instead.
   * Read-only statements cannot change the session (the guard refuses those that do).
   */
  private async giveBackClean(client: pg.PoolClient, readOnly: boolean): Promise<void> {
    if (readOnly) return this.giveBack(client, false);
    if (this.flavor.type !== "postgresql") return this.giveBack(client, true);
    try {
      await client.query("DISCARD ALL");
      this.sessionTimeout.delete(client);
      this.giveBack(client, false);
    } catch {
      this.giveBack(client, true);
    }
  }

  /**
   * How a one-shot read sets its statement timeout. SET LOCAL costs a command of the pipeline on
   * both sides (at c=32, ~8 µs of the connector's CPU and ~4 of the server's per read:
   * test/bench/lib/probe-pg-read.ts): a read-only read on PostgreSQL sets it for the session
   * instead, and the next read on that session with the same timeout sets nothing. The value stays right for every later command: a read-only statement cannot
   * SET (the guard refuses SET and set_config), a failed transaction takes its SET back, DISCARD ALL
   * after a write resets it (forgotten here then), the cursor and COPY paths still SET LOCAL over
   * it, and catalog queries and tests reset it first (`serverTimeout`). A function already defined
   * in the database could still change it; the client's own timer (timeout + CLIENT_GRACE_MS) bounds
   * every read regardless.
   */
  private timeoutScope(client: pg.PoolClient, timeoutMs: number, readOnly: boolean): TimeoutScope {
    if (!readOnly || this.flavor.type !== "postgresql" || timeoutMs < KEEP_TIMEOUT_FROM_MS) return "local";
    return this.sessionTimeout.get(client) === Math.floor(timeoutMs) ? "kept" : "session";
  }

  /** Back to the server's statement_timeout on a session a read left its own in: catalog queries and tests run as they always did. */
  private async serverTimeout(client: pg.PoolClient): Promise<void> {
    if (!this.sessionTimeout.has(client)) return;
    await client.query("RESET statement_timeout");
    this.sessionTimeout.delete(client);
  }

  async test(): Promise<{ serverVersion: string | null; warnings: LoginWarning[] }> {
    const client = await this.checkout();
    try {
      await this.serverTimeout(client);
      const r = await client.query<{ v: string }>("select version() as v");
      const warnings = await pgLoginWarnings(client, this.flavor.type);
      this.giveBack(client, false);
      return { serverVersion: r.rows[0] ? versionOf(r.rows[0].v) : null, warnings };
    } catch (e) {
      this.giveBack(client, true);
      throw connectionError(e, this.ctx);
    }
  }

  introspect(): Promise<SchemaTable[]> {
    return this.catalogQueries(this.flavor.introspect);
  }

  /** Runs catalog queries on one pooled session. */
  private async catalogQueries<T>(run: (q: CatalogQuery) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    let broken = false;
    try {
      await this.serverTimeout(client);
      return await run(async (sql, params, onRow) => (onRow ? streamRows(client, sql, params, onRow) : lastRows(await client.query(sql, params as unknown[] | undefined))));
    } catch (e) {
      broken = isConnectionLevel(e);
      throw queryError(e, this.ctx, { timeoutMs: 0, reason: null });
    } finally {
      this.giveBack(client, broken);
    }
  }

  /** PostgreSQL only (Redshift lacks to_json and ordered string_agg): see Connection.introspectJson. */
  readonly introspectJson?: (onTable?: (json: string) => void) => Promise<TablesJson>;

  /** Cancels whatever `pid` runs, from a separate session (pg_cancel_backend). */
  async cancelBackend(pid: number | undefined): Promise<void> {
    if (!pid) return;
    const c = new pg.Client({ ...this.clientConfig(this.sslMode), connectionTimeoutMillis: 5_000 });
    c.on("error", () => undefined);
    try {
      await c.connect();
      await c.query("select pg_cancel_backend($1)", [pid]);
    } catch {
      // Best effort: the statement timeout on the server still applies.
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * Names of column types outside TYPE_NAMES (enums, domains, extensions), looked up once per pool.
   * `idle`: the query's own session when it has nothing running (a finished one-shot read); else a
   * second session is borrowed, since a cursor holds its own until it closes.
   */
  private async columnType(oids: number[], idle?: pg.PoolClient): Promise<void> {
    const missing = [...new Set(oids)].filter((o) => !(o in TYPE_NAMES) && !this.typeNames.has(o));
    if (missing.length === 0) return;
    const lookUp = async (client: pg.PoolClient) => {
      const r = await client.query<{ oid: number; name: string }>(
        "select oid::int as oid, format_type(oid, null) as name from pg_catalog.pg_type where oid = any($1::oid[])", [missing]);
      for (const row of r.rows) this.typeNames.set(row.oid, row.name);
    };
    try {
      if (idle) return await lookUp(idle);
      const client = await waitForConnection(this.getPool().connect(), (c) => c.release(), {
        boundMs: TYPE_NAMES_WAIT_MS, busy: () => poolBusyError(POOL_MAX, TYPE_NAMES_WAIT_MS),
      });
      try {
        await lookUp(client);
        client.release();
      } catch (e) {
        client.release(true);
        throw e;
      }
    } catch {
      // Names are metadata only; fall back to the oid.
    }
  }

  async query(sql: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream> {
    refuseNul(sql);
    if (opts.readOnly) {
      const refused = await pgReadOnlyRefusal(sql);
      if (refused) throw refused;
    }
    if (opts.signal.aborted) throw queryError(null, this.ctx, { timeoutMs: opts.timeoutMs, reason: abortReason(opts.signal) });
    const client = await this.checkout(opts);
    const pid = (client as unknown as { processID?: number }).processID;
    let reason: "timeout" | "cancelled" | null = null;
    let finished = false;
    let reading = false;
    // Cancel on the server; if the server cannot be reached to cancel, cut the socket so the read settles.
    const stop = () => {
      void this.cancelBackend(pid);
      const kill = setTimeout(() => {
        if (reading) (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }, KILL_AFTER_CANCEL_MS);
      kill.unref();
    };
    const onAbort = () => {
      reason ??= abortReason(opts.signal);
      stop();
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });
    const fail = (e: unknown) => queryError(e, this.ctx, { timeoutMs: opts.timeoutMs, reason });

    let cursor: Cursor | null = null;
    const finish = async (ok: boolean): Promise<void> => {
      if (finished) return;
      finished = true;
      opts.signal.removeEventListener("abort", onAbort);
      if (ok) {
        try {
          await client.query("COMMIT");
        } catch (e) {
          this.giveBack(client, true);
          throw fail(e);
        }
        return this.giveBackClean(client, opts.readOnly);
      }
      // A session we cancelled from outside may still receive that cancel: do not reuse it.
      if (reason) return this.giveBack(client, true);
      try {
        // A cursor in error already synced; closing it would wait for a reply that never comes.
        const state = (cursor as unknown as { state?: string } | null)?.state;
        if (cursor && state !== "error" && state !== "done") await cursor.close();
        await client.query("ROLLBACK");
        await this.giveBackClean(client, opts.readOnly);
      } catch {
        this.giveBack(client, true);
      }
    };

    let inFlight: Promise<unknown> | null = null;
    // Bounds each read: the server's statement_timeout should fire first; this covers servers or proxies that ignore it.
    const read = (n: number): Promise<unknown[][]> => {
      const p = readOnce(n);
      inFlight = p.catch(() => undefined);
      return p;
    };
    const timed = async <T>(io: () => Promise<T>): Promise<T> => {
      const timer = setTimeout(() => {
        reason ??= "timeout";
        stop();
      }, opts.timeoutMs + CLIENT_GRACE_MS);
      reading = true;
      try {
        return await io();
      } finally {
        reading = false;
        clearTimeout(timer);
      }
    };
    const readOnce = (n: number) => timed(async () => (await cursor!.read(n)) as unknown[][]);
    const columnsOf = async (fields: pg.FieldDef[]): Promise<QueryStream["columns"]> => {
      await this.columnType(fields.map((f) => f.dataTypeID));
      return fields.map((f) => ({ name: f.name, type: TYPE_NAMES[f.dataTypeID] ?? this.typeNames.get(f.dataTypeID) ?? `oid:${f.dataTypeID}` }));
    };

    const done = { done: true, value: undefined } as const;
    if (opts.maxRows !== undefined && opts.maxRows <= opts.batchRows) {
      // Small capped reads: the whole transaction in one round trip instead of five.
      let result: OneShotResult;
      const timeout = this.timeoutScope(client, opts.timeoutMs, opts.readOnly);
      try {
        const shot = client.query(new OneShotQuery(sql, params, { readOnly: opts.readOnly, timeoutMs: opts.timeoutMs, maxRows: Math.max(1, opts.maxRows), timeout }));
        result = await timed(() => shot.done);
      } catch (e) {
        const err = fail(e);
        await finish(false);
        throw err;
      }
      // Committed: the session keeps the value from now on (a failed transaction took it back).
      if (timeout === "session") this.sessionTimeout.set(client, Math.floor(opts.timeoutMs));
      finished = true;
      opts.signal.removeEventListener("abort", onAbort);
      // Before the session goes back: on a full pool a second one could take until TYPE_NAMES_WAIT_MS.
      await this.columnType(result.fields.map((f) => f.dataTypeID), client);
      await this.giveBackClean(client, opts.readOnly);
      let rows: unknown[][] | null = result.rows.length > 0 ? result.rows : null;
      return {
        columns: await columnsOf(result.fields),
        batches: {
          next: async () => {
            const value = rows;
            rows = null;
            return value ? { done: false, value } : done;
          },
          return: async () => done,
        },
      };
    }

    const batchRows = Math.max(1, Math.floor(opts.batchRows));
    let first: unknown[][];
    let columns: QueryStream["columns"];
    try {
      // One round trip: both statements in one simple query (the timeout is an integer we format).
      await client.query(`${opts.readOnly ? "BEGIN READ ONLY" : "BEGIN"}; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(opts.timeoutMs))}`);
      cursor = client.query(new Cursor(sql, params as unknown[], { rowMode: "array", types: pgTypes } as Cursor.CursorQueryConfig));
      first = await read(batchRows);
      columns = await columnsOf(((cursor as unknown as { _result?: { fields?: pg.FieldDef[] } })._result?.fields ?? []) as pg.FieldDef[]);
    } catch (e) {
      const err = fail(e);
      await finish(false);
      throw err;
    }

    let pending: unknown[][] | null = first;
    let exhausted = first.length < batchRows;
    const batches: AsyncIterator<unknown[][]> = {
      next: async () => {
        if (finished) return done;
        try {
          if (opts.signal.aborted) {
            reason ??= abortReason(opts.signal);
            throw fail(null);
          }
          if (pending) {
            const b = pending;
            pending = null;
            if (b.length > 0) return { done: false, value: b };
          }
          if (exhausted) {
            await finish(true);
            return done;
          }
          const b = await read(batchRows);
          if (b.length < batchRows) exhausted = true;
          if (b.length === 0) {
            await finish(true);
            return done;
          }
          return { done: false, value: b };
        } catch (e) {
          const err = fail(e);
          await finish(false);
          throw err;
        }
      },
      return: async () => {
        // Closed while a read-ahead is running: cancel it and let it settle before the session goes back.
        if (reading && !finished) {
          reason ??= "cancelled";
          stop();
          await inFlight;
        }
        await finish(false);
        return done;
      },
    };
    return { columns, batches };
  }

  /**
   * A read-only query as CSV straight from the server: `COPY (select …) TO STDOUT`
   * with each column wrapped by `csvExpr` so the text equals the row path's CSV.
   * Null when the query cannot take this path (parameters — COPY takes none —, a
   * statement that is not a plain query, a column type without an expression,
   * Redshift, which has no COPY TO STDOUT): the caller uses `query` then.
   * The statement timeout bounds the describe; the export itself is bounded by a
   * stall timer (no data for `timeoutMs`), like the cursor path bounds each batch.
   * `limit` caps the rows exported (the export's own `limit`).
   */
  async copyCsv(sql: string, params: readonly unknown[], opts: CopyCsvOptions): Promise<CsvStream | null> {
    if (this.flavor.type !== "postgresql" || params.length > 0 || !opts.readOnly) return null;
    refuseNul(sql);
    // The user's statement is checked as sent, before it is wrapped: one SELECT, so it stays one subquery below.
    const refused = await pgReadOnlyRefusal(sql);
    if (refused) throw refused;
    const inner = sql.replace(/[\s;]+$/, "");
    if (!inner) return null;
    if (opts.signal.aborted) throw queryError(null, this.ctx, { timeoutMs: opts.timeoutMs, reason: abortReason(opts.signal) });
    const client = await this.checkout(opts);
    const pid = (client as unknown as { processID?: number }).processID;
    const fail = (e: unknown) => queryError(e, this.ctx, { timeoutMs: opts.timeoutMs, reason });
    let reason: "timeout" | "cancelled" | null = null;
    let settled = false;
    const release = (destroy: boolean) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener("abort", onAbort);
      this.giveBack(client, destroy);
    };
    // Stopping a COPY: cancel on the server, then drop the session (its socket may hold unread data).
    const kill = async () => {
      await this.cancelBackend(pid);
      release(true);
    };
    const onAbort = () => {
      reason ??= abortReason(opts.signal);
      void kill();
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });

    let fields: pg.FieldDef[];
    try {
      await client.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(opts.timeoutMs))}`);
      try {
        // Extended protocol: one statement only. The simple protocol would run `…) q; COMMIT; INSERT …`
        // as three, the last outside the read-only transaction. Text that passes here as one subquery
        // stays one inside the COPY below (same delimiters around it, no quotes in either wrapper).
        fields = (await client.query({ text: `select * from (\n${inner}\n) q limit 0`, rowMode: "array", queryMode: "extended" } as pg.QueryConfig)).fields;
      } catch (e) {
        if (reason) throw e;
        // Not wrappable (SHOW, several statements, a data-modifying WITH…): the cursor path runs it as is.
        await client.query("ROLLBACK");
        release(false);
        return null;
      }
      const exprs = fields.map((f, i) => csvExpr(f.dataTypeID, `q.c${i + 1}`));
      if (fields.length === 0 || exprs.some((e) => e === null)) {
        await client.query("ROLLBACK");
        release(false);
        return null;
      }
      await this.columnType(fields.map((f) => f.dataTypeID));
      await client.query("SET LOCAL statement_timeout = 0");
    } catch (e) {
      const err = fail(e);
      if (!settled) {
        if (reason) release(true);
        else await client.query("ROLLBACK").then(() => release(false), () => release(true));
      }
      throw err;
    }
    const columns = fields.map((f) => ({ name: f.name, type: TYPE_NAMES[f.dataTypeID] ?? this.typeNames.get(f.dataTypeID) ?? `oid:${f.dataTypeID}` }));
    const aliases = fields.map((_, i) => `c${i + 1}`).join(", ");
    // An integer we format: no injection through the limit.
    const limit = opts.limit !== undefined ? ` limit ${Math.max(0, Math.floor(opts.limit))}` : "";
    const copy = client.query(new CopyOut(
      `COPY (select ${fields.map((_, i) => csvExpr(fields[i]!.dataTypeID, `q.c${i + 1}`)).join(", ")} from (\n${inner}\n) q(${aliases})${limit}) TO STDOUT WITH (FORMAT csv)`,
      reclaimer(),
    ));
    const read = async (page: Buffer): Promise<number> => {
      if (settled) {
        if (reason) throw fail(null);
        return 0;
      }
      // Stopped when no data came for timeoutMs (a page may take longer than that to fill).
      let seen = copy.bytesIn;
      const stall = setInterval(() => {
        if (copy.bytesIn !== seen) { seen = copy.bytesIn; return; }
        reason ??= "timeout";
        void kill();
      }, opts.timeoutMs);
      try {
        const n = await copy.read(page);
        if (copy.done) {
          await client.query("COMMIT");
          release(false);
        }
        return n;
      } catch (e) {
        const err = fail(reason ? null : e);
        if (reason) release(true);
        else await client.query("ROLLBACK").then(() => release(false), () => release(true));
        throw err;
      } finally {
        clearInterval(stall);
      }
    };
    const close = async () => {
      if (!settled) {
        reason ??= "cancelled";
        await kill();
      }
    };
    return { columns, read, close, done: () => settled, rowCount: () => copy.rows };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const p = this.pool;
      this.pool = null;
      await p?.end().catch(() => undefined);
    })();
    return this.closing;
  }
}

/** A driver on the pg wire protocol (PostgreSQL, Redshift). */
export function createPgDriver<C extends PgWireConfig>(flavor: PgFlavor & { type: C["type"] }, dialect: Dialect = "postgres"): Driver<C> {
  return {
    type: flavor.type,
    dialect,
    targets(config) {
      const o = resolvePgOptions(config, flavor.defaultPort);
      return [{ hostname: o.host, port: o.port }];
    },
    async connect(config, targets) {
      const o = resolvePgOptions(config, flavor.defaultPort);
      const target = targets[0];
      if (!target) throw new DriverError("connection", "No checked address to connect to");
      return new PgConnection(o, target, flavor);
    },
  };
}

export const postgresqlDriver: Driver<ConfigOf<"postgresql">> = createPgDriver<ConfigOf<"postgresql">>({
  type: "postgresql", defaultPort: 5432, introspect: introspectPostgres,
});
