/**
 * ClickHouse driver over HTTP with @clickhouse/client. It works with servers as
 * old as Debian's 18.16 by using only what that version has: `exec` with a
 * TabSeparatedWithNamesAndTypes body parsed here (no JSONCompactEachRow),
 * settings in the URL, and `{p1:Type}` parameters bound natively from 19.15
 * on and substituted client-side (escaped, CAST to the type) before that.
 *
 * Read-only is the guard of read-only.ts (table functions that reach files, other
 * servers or programs; SYSTEM; one statement) plus the server's `readonly=1`: it forbids writes, DDL and changing
 * settings, including a query's own SETTINGS clause. It is sent as the last URL
 * setting, after max_execution_time, because settings apply in order and
 * readonly=1 refuses every change that comes after it (readonly=2 would let a
 * query lift its own max_execution_time). A user whose profile is already
 * readonly=1 may not send settings at all: the driver notices (error 164 on
 * its first request) and sends none; the server enforces read-only by itself
 * then, and timeouts rest on the driver's timer, KILL QUERY and the HTTP abort.
 */
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { createClient, type ClickHouseClient, type ClickHouseSettings } from "@clickhouse/client";
import type { ColumnMeta, SchemaTable } from "@dsb/contracts";
import { DriverError, type Connection, type DialTarget, type Driver, type QueryOptions, type QueryStream } from "../types.ts";
import { clickhouseClientOptions, clickhouseTargets, type ClickhouseConfig } from "./config.ts";
import { CANCELLED_CODE, clickhouseError, parseServerError, type ErrorContext } from "./errors.ts";
import { buildTables, capabilities, CAPABILITIES_SQL, introspectionQueries } from "./introspect.ts";
import { namedParams, quoteClickhouse, substituteParams } from "./params.ts";
import { clickhouseReadOnlyRefusal } from "./read-only.ts";
import { clickhouseHeader, clickhouseRow, trailingException } from "./types.ts";

const FORMAT = "TabSeparatedWithNamesAndTypes";

interface ServerInfo {
  version: string;
  timezone: string;
  /** Native `{name:Type}` binding (query parameters arrived in 19.15). */
  nativeParams: boolean;
  /** cancel_http_readonly_queries_on_client_close exists (19.x+). */
  cancelOnClose: boolean;
  /** The user's profile is readonly=1, so requests may carry no settings. */
  readonlyProfile: boolean;
}

const READONLY_CODE = 164;

export function parseVersion(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Statements that answer with rows get a FORMAT clause; the others run as they are. */
export function returnsRows(sql: string): boolean {
  let s = sql;
  for (;;) {
    const t = s.replace(/^[\s(]+/, "");
    if (t.startsWith("--")) s = t.slice(t.indexOf("\n") < 0 ? t.length : t.indexOf("\n"));
    else if (t.startsWith("/*")) s = t.slice(t.indexOf("*/") < 0 ? t.length : t.indexOf("*/") + 2);
    else {
      s = t;
      break;
    }
  }
  return /^(SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN)\b/i.test(s);
}

/** The SQL sent for a row-returning statement: trailing semicolons off, our FORMAT on. */
export function withFormat(sql: string): string {
  const body = sql.trim().replace(/;+\s*$/, "");
  if (/\bFORMAT\s+[A-Za-z]+\s*$/i.test(body))
    throw new DriverError("query", "Remove the FORMAT clause: results are returned as JSON rows by the service");
  return `${body}\nFORMAT ${FORMAT}`;
}

/** Splits a byte stream into UTF-8 lines, chunk by chunk (lines never split inside a character). */
async function* lineChunks(stream: Readable): AsyncGenerator<string[]> {
  let rest: Buffer | null = null;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    const lines: string[] = [];
    let start = 0;
    for (let i = buf.indexOf(10, start); i !== -1; i = buf.indexOf(10, start)) {
      lines.push(buf.toString("utf8", start, i));
      start = i + 1;
    }
    rest = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    if (lines.length) yield lines;
  }
  if (rest && rest.length) yield [rest.toString("utf8")];
}

type StopKind = "timeout" | "cancelled";
const abortKind = (s: AbortSignal): StopKind => ((s.reason as { name?: string } | undefined)?.name === "TimeoutError" ? "timeout" : "cancelled");
const stopError = (kind: StopKind, ms: number) =>
  kind === "timeout"
    ? new DriverError("timeout", `The query ran longer than its timeout of ${ms} ms and was cancelled on the server`)
    : new DriverError("cancelled", "The query was cancelled");

class ClickhouseConnection implements Connection {
  private readonly client: ClickHouseClient;
  private readonly ctx: ErrorContext;
  private infoP: Promise<ServerInfo> | null = null;
  private closed = false;

  constructor(private readonly config: ClickhouseConfig, target: DialTarget) {
    this.client = createClient(clickhouseClientOptions(config, target));
    this.ctx = { host: target.hostname, port: target.port, protocol: config.protocol, user: config.username, database: config.database, secrets: [config.password] };
  }

  /** Runs a small row-returning query and reads it whole (metadata queries only). */
  private async rows(sql: string, phase: "connect" | "query", settings?: ClickHouseSettings): Promise<unknown[][]> {
    if (this.closed) throw new DriverError("connection", "The connection is closed");
    try {
      const s = settings ?? ((await this.infoP?.catch(() => null))?.readonlyProfile ? {} : { readonly: "1" });
      const { stream } = await this.client.exec({ query: withFormat(sql), clickhouse_settings: s });
      const out: unknown[][] = [];
      let header: ReturnType<typeof clickhouseHeader> | null = null;
      let pending: string | null = null;
      for await (const lines of lineChunks(stream)) {
        for (const line of lines) {
          if (header === null) {
            if (pending === null) pending = line;
            else header = clickhouseHeader(pending, line, "UTC");
            continue;
          }
          const ex = trailingException(line, header.columns.length);
          if (ex) throw new Error(ex);
          out.push(clickhouseRow(line, header.convert));
        }
      }
      return out;
    } catch (e) {
      throw clickhouseError(e, this.ctx, phase);
    }
  }

  private info(): Promise<ServerInfo> {
    const sql = "SELECT version(), timezone()";
    this.infoP ??= this.rows(sql, "connect", { max_execution_time: 30, readonly: "1" }).then(
      (r) => ({ r, readonlyProfile: false }),
      async (e: unknown) => {
        if (parseServerError((e as DriverError).message)?.code !== READONLY_CODE && !/readonly mode/i.test((e as DriverError).message)) throw e;
        return { r: await this.rows(sql, "connect", {}), readonlyProfile: true };
      },
    ).then(
      ({ r, readonlyProfile }) => {
        const version = String(r[0]?.[0] ?? "");
        const [major, minor] = parseVersion(version);
        return {
          version,
          timezone: String(r[0]?.[1] ?? "UTC"),
          nativeParams: major > 19 || (major === 19 && minor >= 15),
          cancelOnClose: major >= 20,
          readonlyProfile,
        };
      },
      (e: unknown) => {
        this.infoP = null;
        throw e;
      },
    );
    return this.infoP;
  }

  async test(): Promise<{ serverVersion: string | null }> {
    // The cached info is not proof of the credentials: always one fresh round trip.
    await this.info();
    const r = await this.rows("SELECT version()", "connect");
    return { serverVersion: r[0]?.[0] == null ? null : String(r[0][0]) };
  }

  async introspect(): Promise<SchemaTable[]> {
    await this.info(); // learns whether requests may carry settings
    const caps = capabilities(await this.rows(CAPABILITIES_SQL, "query"));
    const q = introspectionQueries(this.config.database, caps);
    const tables = await this.rows(q.tables, "query");
    const columns = await this.rows(q.columns, "query");
    const parts = q.rows ? await this.rows(q.rows, "query") : null;
    return buildTables(tables, columns, parts);
  }

  /** KILL QUERY by id; best effort (a user without the right still has the HTTP abort). */
  private async kill(queryId: string): Promise<void> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 5000);
    try {
      await this.client.command({ query: `KILL QUERY WHERE query_id = ${quoteClickhouse(queryId)}`, abort_signal: ac.signal });
    } catch {
      /* already finished, or not allowed */
    } finally {
      clearTimeout(t);
    }
  }

  async query(sql: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream> {
    if (this.closed) throw new DriverError("connection", "The connection is closed");
    if (opts.readOnly) {
      // Before anything is sent: readonly=1 does not stop file(), url(), remote()… or every SYSTEM statement.
      const refused = clickhouseReadOnlyRefusal(sql);
      if (refused) throw refused;
    }
    const info = await this.info();
    let text = sql;
    let query_params: Record<string, unknown> | undefined;
    if (params.length > 0) {
      if (info.nativeParams) query_params = namedParams(sql, params);
      else text = substituteParams(sql, params);
    }
    const rowsWanted = returnsRows(text);
    if (rowsWanted) text = withFormat(text);
    if (opts.signal.aborted) throw stopError(abortKind(opts.signal), opts.timeoutMs);

    // Order matters: readonly last (see the file comment).
    const settings: ClickHouseSettings = {};
    if (!info.readonlyProfile) {
      settings.max_execution_time = Math.max(0.001, opts.timeoutMs / 1000);
      if (info.cancelOnClose) settings.cancel_http_readonly_queries_on_client_close = 1;
      if (opts.readOnly) settings.readonly = "1";
    }
    return new RunningQuery(this, text, rowsWanted, opts, settings, query_params, info.timezone).start();
  }

  /** @internal used by RunningQuery */
  execRaw(query: string, queryId: string, signal: AbortSignal, settings: ClickHouseSettings, query_params?: Record<string, unknown>) {
    return this.client.exec({ query, query_id: queryId, abort_signal: signal, clickhouse_settings: settings, ...(query_params ? { query_params } : {}) });
  }
  /** @internal */
  killQuery(id: string) {
    return this.kill(id);
  }
  /** @internal */
  error(e: unknown) {
    return clickhouseError(e, this.ctx, "query");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

/** One statement: its HTTP response read line by line into batches. */
class RunningQuery {
  private readonly queryId = randomUUID();
  private readonly ac = new AbortController();
  private stopped: StopKind | null = null;
  private killing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lines: AsyncGenerator<string[]> | null = null;
  private pending: string[] = [];
  private pos = 0;
  private ended = false;
  private done = false;
  private readonly onAbort = () => this.stop(abortKind(this.opts.signal));

  constructor(
    private readonly conn: ClickhouseConnection,
    private readonly sql: string,
    private readonly rowsWanted: boolean,
    private readonly opts: QueryOptions,
    private readonly settings: ClickHouseSettings,
    private readonly params: Record<string, unknown> | undefined,
    private readonly serverTz: string,
  ) {}

  private stop(kind: StopKind) {
    if (this.done || this.stopped) return;
    this.stopped = kind;
    this.killing = this.conn.killQuery(this.queryId);
    this.ac.abort();
  }

  private cleanup() {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.opts.signal.removeEventListener("abort", this.onAbort);
  }

  private async fail(e: unknown): Promise<never> {
    const wasStopped = this.stopped;
    if (!this.ended && !wasStopped) {
      // Stop reading, and make sure the server stops too.
      this.killing = this.conn.killQuery(this.queryId);
      this.ac.abort();
    }
    this.cleanup();
    await this.killing;
    if (wasStopped) throw stopError(wasStopped, this.opts.timeoutMs);
    const err = this.conn.error(e);
    const parsed = parseServerError(err.message);
    if (parsed?.code === CANCELLED_CODE) throw new DriverError("cancelled", "The query was cancelled on the server");
    throw err;
  }

  /** Next line of the body, or null at its end. */
  private async nextLine(): Promise<string | null> {
    while (this.pos >= this.pending.length) {
      if (this.ended) return null;
      const r = await this.lines!.next();
      if (r.done) {
        this.ended = true;
        return null;
      }
      this.pending = r.value;
      this.pos = 0;
    }
    return this.pending[this.pos++]!;
  }

  async start(): Promise<QueryStream> {
    this.timer = setTimeout(() => this.stop("timeout"), Math.max(1, this.opts.timeoutMs));
    this.opts.signal.addEventListener("abort", this.onAbort, { once: true });
    let columns: ColumnMeta[] = [];
    let convert: ReturnType<typeof clickhouseHeader>["convert"] = [];
    try {
      const { stream } = await this.conn.execRaw(this.sql, this.queryId, this.ac.signal, this.settings, this.params);
      this.lines = lineChunks(stream);
      if (this.rowsWanted) {
        const names = await this.nextLine();
        const types = await this.nextLine();
        if (this.stopped) throw stopError(this.stopped, this.opts.timeoutMs);
        if (names === null || types === null) throw new DriverError("query", "The server's answer had no header line");
        const ex = trailingException(names, 0);
        if (ex) throw new Error(ex);
        ({ columns, convert } = clickhouseHeader(names, types, this.serverTz));
      } else {
        // DDL and writes: no rows; read the (empty) body to the end.
        while ((await this.nextLine()) !== null);
      }
    } catch (e) {
      return this.fail(e);
    }
    const self = this;
    const batches: AsyncIterator<unknown[][]> = {
      async next() {
        if (self.done) return { done: true, value: undefined };
        try {
          const batch: unknown[][] = [];
          const want = Math.max(1, self.opts.batchRows);
          while (batch.length < want) {
            // Without waiting for a full batch when buffered lines run out and some rows are ready.
            if (batch.length > 0 && self.pos >= self.pending.length) break;
            const line = await self.nextLine();
            if (self.stopped) throw stopError(self.stopped, self.opts.timeoutMs);
            if (line === null) break;
            const ex = trailingException(line, columns.length);
            if (ex) throw new Error(ex);
            batch.push(clickhouseRow(line, convert));
          }
          if (batch.length === 0) {
            self.cleanup();
            return { done: true, value: undefined };
          }
          return { done: false, value: batch };
        } catch (e) {
          return self.fail(e);
        }
      },
      async return() {
        if (!self.done) {
          if (!self.ended) {
            self.killing = self.conn.killQuery(self.queryId);
            self.ac.abort();
          }
          self.cleanup();
          await self.killing;
        }
        return { done: true, value: undefined };
      },
    };
    return { columns, batches };
  }
}

export const clickhouseDriver: Driver<ClickhouseConfig> = {
  type: "clickhouse",
  dialect: "clickhouse",
  targets: clickhouseTargets,
  async connect(config: ClickhouseConfig, targets: DialTarget[]): Promise<Connection> {
    const target = targets[0];
    if (!target) throw new DriverError("connection", "No checked address to dial for the ClickHouse host");
    return new ClickhouseConnection(config, target);
  },
};
