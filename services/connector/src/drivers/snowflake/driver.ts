import snowflake from "snowflake-sdk";
import type { Connection as SfConnection, RowStatement } from "snowflake-sdk";
import type { Connection, Driver, QueryOptions, QueryStream } from "../types.ts";
import { DriverError } from "../types.ts";
import { DEFAULT_POOL, SessionPool, type Poolable } from "../shared/session-pool.ts";
import { poolBusyError, POOL_WAIT_MS } from "../shared/pool-wait.ts";
import { snowflakeOptions, snowflakeTarget, type SnowflakeConfig } from "./config.ts";
import { assembleSchema, columnsSql, primaryKeysSql, tablesSql } from "./introspect.ts";
import { readOnlyViolation } from "./read-only.ts";
import { readOnlyRefusal } from "../read-only.ts";
import { snowflakeTypeName, snowflakeValue, type SfColumn } from "./types.ts";
import { scrubSecrets } from "../shared/scrub.ts";

// The SDK logs to a file in the working directory by default; the connector has its own log.
snowflake.configure({ logLevel: "OFF" } as Parameters<typeof snowflake.configure>[0]);

interface SfError { code?: string | number; message?: string; sqlState?: string; cause?: unknown }

/** Login codes: 390100 wrong user/password, 390144 bad JWT, 390318/390303 OAuth token, 390422 IP not allowed. */
const LOGIN_CODES = new Set(["390100", "390101", "390144", "390318", "390303", "390304", "390422", "390102"]);

function connectError(err: unknown, config: SnowflakeConfig, secrets: readonly (string | undefined)[]): DriverError {
  const e = (err ?? {}) as SfError;
  const code = String(e.code ?? "");
  const where = snowflakeTarget(config).hostname;
  let message: string;
  if (LOGIN_CODES.has(code) || /incorrect username or password|jwt token is invalid|oauth/i.test(e.message ?? "")) {
    message = `Snowflake rejected the login for user '${config.username}': ${e.message ?? "authentication failed"} Check the username and password (or private_key / token).`;
  } else if (/ENOTFOUND|EAI_AGAIN/.test(`${e.message} ${String((e.cause as SfError | undefined)?.code ?? "")}`)) {
    message = `Unknown host ${where}: check the account identifier (orgname-accountname) or access_url.`;
  } else if (/ECONNREFUSED/.test(`${e.message} ${String((e.cause as SfError | undefined)?.code ?? "")}`)) {
    message = `Connection refused by ${where}: check access_url and the network.`;
  } else {
    message = `Could not connect to Snowflake at ${where}: ${e.message ?? String(err)}`;
  }
  return new DriverError("connection", scrubSecrets(message, secrets));
}

/** One pooled SDK connection. */
class PooledSf implements Poolable {
  constructor(readonly conn: SfConnection) {}
  get healthy() { return this.conn.isUp(); }
  close() {
    return new Promise<void>((resolve) => {
      if (!this.conn.isUp()) return resolve();
      this.conn.destroy(() => resolve());
    });
  }
}

interface Executed { stmt: RowStatement; columns: SfColumn[] }

function execute(conn: SfConnection, sql: string, binds: readonly unknown[], extra: { timeoutMs: number; onStatement?: (s: RowStatement) => void }): Promise<Executed> {
  return new Promise((resolve, reject) => {
    const stmt = conn.execute({
      sqlText: sql,
      ...(binds.length ? { binds: binds.map((b) => (typeof b === "bigint" ? b.toString() : b)) as never } : {}),
      streamResult: true,
      rowMode: "array",
      // Exact NUMBER values as strings; FLOAT is turned back into a number in types.ts.
      fetchAsString: ["Number"],
      parameters: { MULTI_STATEMENT_COUNT: 1, STATEMENT_TIMEOUT_IN_SECONDS: Math.max(1, Math.ceil(extra.timeoutMs / 1000)) },
      complete: (err, s) => (err ? reject(err) : resolve({ stmt: s, columns: (s.getColumns() ?? []) as unknown as SfColumn[] })),
    });
    extra.onStatement?.(stmt);
  });
}

class SnowflakeConnection implements Connection {
  private readonly pool: SessionPool<PooledSf>;
  private readonly secrets: (string | undefined)[];

  constructor(private readonly config: SnowflakeConfig) {
    this.secrets = [config.password, config.private_key, config.private_key_passphrase, config.token];
    this.pool = new SessionPool<PooledSf>(
      async () => {
        const conn = snowflake.createConnection(snowflakeOptions(config));
        try {
          await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
        } catch (err) {
          throw connectError(err, config, this.secrets);
        }
        return new PooledSf(conn);
      },
      async (c) => { await this.collectOn(c.conn, "SELECT 1"); },
      DEFAULT_POOL,
    );
  }

  /** A pooled session; a query waits for one until its signal fires (then fails as cancelled), anything else for POOL_WAIT_MS. */
  private async lease(signal?: AbortSignal) {
    try {
      return await this.pool.acquire({
        signal,
        aborted: () => new DriverError("cancelled", "Query was cancelled before it started"),
        busy: () => poolBusyError(DEFAULT_POOL.max, POOL_WAIT_MS),
      });
    } catch (err) {
      if (err instanceof DriverError) throw err;
      throw new DriverError("connection", "This Snowflake connection was closed; reconnect the source.");
    }
  }

  private queryError(err: unknown): DriverError {
    if (err instanceof DriverError) return err;
    const e = (err ?? {}) as SfError;
    return new DriverError("query", scrubSecrets(e.message ?? String(err), this.secrets));
  }

  private async collectOn(conn: SfConnection, sql: string): Promise<{ names: string[]; rows: unknown[][] }> {
    const { stmt, columns } = await execute(conn, sql, [], { timeoutMs: 120_000 });
    const rows: unknown[][] = [];
    for await (const row of stmt.streamRows()) rows.push((row as unknown[]).map((v, i) => snowflakeValue(columns[i]!.getType(), v, columns[i]!.getScale())));
    return { names: columns.map((c) => c.getName().toLowerCase()), rows };
  }

  private async collect(sql: string) {
    const l = await this.lease();
    try {
      const r = await this.collectOn(l.client.conn, sql);
      l.release(true);
      return r;
    } catch (err) {
      l.release(l.client.healthy);
      throw this.queryError(err);
    }
  }

  async test() {
    const r = await this.collect("SELECT CURRENT_VERSION()");
    const v = r.rows[0]?.[0];
    return { serverVersion: v == null ? null : `Snowflake ${String(v)}` };
  }

  async introspect() {
    const db = this.config.database;
    const tables = await this.collect(tablesSql(db));
    const columns = await this.collect(columnsSql(db));
    // SHOW needs privileges some roles lack; the schema is still useful without keys.
    const pks = await this.collect(primaryKeysSql(db)).catch(() => ({ names: [] as string[], rows: [] as unknown[][] }));
    const [si, ti, ci] = ["schema_name", "table_name", "column_name"].map((n) => pks.names.indexOf(n)) as [number, number, number];
    const keys = si < 0 ? [] : pks.rows.map((r) => ({ schema: String(r[si]), table: String(r[ti]), column: String(r[ci]) }));
    return assembleSchema(tables.rows, columns.rows, keys);
  }

  async query(sql: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream> {
    if (opts.readOnly) {
      const why = readOnlyViolation(sql);
      if (why) throw readOnlyRefusal(why);
    }
    if (opts.signal.aborted) throw new DriverError("cancelled", "Query was cancelled before it started");
    const lease = await this.lease(opts.signal);
    const conn = lease.client.conn;
    let stmt: RowStatement | null = null;
    let stopped: DriverError | null = null;
    let finished = false;
    const stop = (e: DriverError) => {
      if (stopped || finished) return;
      stopped = e;
      // abort-request to Snowflake: the server stops the query.
      stmt?.cancel(() => undefined);
    };
    const timer = setTimeout(() => stop(new DriverError("timeout", `Query exceeded its ${opts.timeoutMs} ms timeout and was cancelled on Snowflake. Narrow the query or raise timeout_ms.`)), opts.timeoutMs);
    const onAbort = () => stop(new DriverError("cancelled", "Query was cancelled on Snowflake."));
    opts.signal.addEventListener("abort", onAbort, { once: true });
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      opts.signal.removeEventListener("abort", onAbort);
      // A read-write statement may have changed the session (ALTER SESSION, USE ROLE/WAREHOUSE): that connection is not reused.
      lease.release(lease.client.healthy && opts.readOnly);
    };

    let executed: Executed;
    try {
      executed = await execute(conn, sql, params, { timeoutMs: opts.timeoutMs, onStatement: (s) => { stmt = s; } });
    } catch (err) {
      finish();
      throw stopped ?? this.queryError(err);
    }
    if (stopped) { finish(); throw stopped; }
    const { columns } = executed;
    const types = columns.map((c) => c.getType());
    const scales = columns.map((c) => c.getScale());
    const stream = executed.stmt.streamRows();
    const rows = stream[Symbol.asyncIterator]() as AsyncIterator<unknown[]>;
    const batchRows = Math.max(1, opts.batchRows);
    const secrets = this.secrets;
    const batches: AsyncIterator<unknown[][]> = {
      async next() {
        if (finished) return { done: true, value: undefined };
        const batch: unknown[][] = [];
        try {
          while (batch.length < batchRows) {
            if (stopped) throw stopped;
            const r = await rows.next();
            if (r.done) break;
            batch.push(r.value.map((v, i) => snowflakeValue(types[i]!, v, scales[i])));
          }
        } catch (err) {
          stream.destroy();
          finish();
          throw stopped ?? new DriverError("query", scrubSecrets((err as SfError).message ?? String(err), secrets));
        }
        if (!batch.length) { finish(); return { done: true, value: undefined }; }
        return { done: false, value: batch };
      },
      async return() {
        stream.destroy();
        finish();
        return { done: true, value: undefined };
      },
    };
    return { columns: columns.map((c) => ({ name: c.getName(), type: snowflakeTypeName(c) })), batches };
  }

  async close() {
    await this.pool.close();
  }
}

/** Snowflake over snowflake-sdk. connect() dials nothing; test() logs in. */
export const snowflakeDriver: Driver<SnowflakeConfig> = {
  type: "snowflake",
  dialect: "snowflake",
  targets: (config) => [snowflakeTarget(config)],
  async connect(config) {
    return new SnowflakeConnection(config);
  },
};
