/**
 * The one driver test suite, run by every driver's `driver.test.ts` against a
 * real server (or a stand-in). It speaks only the Driver/Connection interface.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig, DbType } from "@dsb/contracts";
import { connectChecked } from "../../../services/connector/src/address-policy.ts";
import { driverFor } from "../../../services/connector/src/drivers/index.ts";
import { DriverError, type Connection, type Driver, type QueryOptions } from "../../../services/connector/src/drivers/types.ts";

export interface DriverHarness<C extends DatabaseConfig = DatabaseConfig> {
  type: DbType;
  /**
   * A config that reaches a real (or stand-in) server, or `{skip}` with a
   * reason: the suite then prints `SKIPPED <type>: <reason>` and runs nothing.
   */
  config(): Promise<C | { skip: string }>;
  /**
   * Statements run with writes allowed before the suite: drop then create table
   * dsb_suite_items (id integer primary key, name varchar(100) not null,
   * amount decimal(12,2), big bigint, created_at timestamp, flag boolean) with
   * its 3 rows, and view dsb_suite_view as select id, name from dsb_suite_items.
   */
  setupSql: string[];
  /** Fully qualified name the suite selects from, e.g. "public.dsb_suite_items". */
  table: string;
  /** The n-th (1-based) positional parameter in this dialect: $1, ?, @p1, {p1:Int64}. */
  placeholder(n: number, kind: "int" | "string"): string;
  /** A query taking about `seconds` on the server, or null (cancel tests SKIPPED). */
  sleepSql(seconds: number): string | null;
  /** Count of running queries whose text contains `marker`, or absent. */
  runningQueries?(marker: string): Promise<number>;
  /** A writing statement the read-only default must refuse, or null (SKIPPED). */
  writeSql: string | null;
  /** The driver under test; defaults to `<type>Driver` exported by `./<type>/driver.ts`. */
  driver?: Driver<C>;
  /**
   * A config whose credentials the server refuses, with the secret it carries
   * (must not appear in the error). Default: the config with password
   * replaced. Servers with trust auth can return e.g. an unknown user instead.
   */
  badCredentials?(config: C): { config: C; secret: string } | { skip: string };
  /** Statements run after the suite (default: drop the view and table). */
  teardownSql?: string[];
  /** Comment syntax that reaches the server's query text; default `/* marker *\/ `. */
  markSql?(marker: string, sql: string): string;
  /** Called once after the suite, e.g. to drop a scratch database. */
  cleanup?(): Promise<void>;
  /**
   * For a database without SQL (MongoDB): turns each statement the suite runs into this
   * driver's query text, values written in (default: the SQL as is, params bound).
   */
  native?(sql: string, params: readonly unknown[]): { text: string; params: unknown[] };
  /** Name of the table's primary-key column `id` (MongoDB: `_id`). */
  idColumn?: string;
  /** `kind` the table is introspected as (default `table`; MongoDB `collection`). */
  tableKind?: string;
}

const isSkip = (v: unknown): v is { skip: string } => !!v && typeof v === "object" && "skip" in v;

/** Query options for driver tests: read-only, 30 s, batches of 1,000, overridable. */
export const queryOptions = (o: Partial<QueryOptions> = {}): QueryOptions => ({
  readOnly: true, timeoutMs: 30_000, signal: new AbortController().signal, batchRows: 1000, ...o,
});

/** Runs a query through a driver connection and reads every batch. */
export async function drain(conn: Connection, sql: string, params: readonly unknown[] = [], o: Partial<QueryOptions> = {}) {
  const stream = await conn.query(sql, params, queryOptions(o));
  const batches: unknown[][][] = [];
  for (let r = await stream.batches.next(); !r.done; r = await stream.batches.next()) batches.push(r.value);
  return { columns: stream.columns, batches, rows: batches.flat(), sizes: batches.map((b) => b.length) };
}

async function loadDriver<C extends DatabaseConfig>(h: DriverHarness<C>): Promise<Driver<C>> {
  if (h.driver) return h.driver;
  return (await driverFor(h.type)) as Driver<C>;
}

/** Waits until `fn` is 0 (cancellation on the server is asynchronous). */
async function eventuallyZero(fn: () => Promise<number>, ms = 10_000): Promise<number> {
  const end = Date.now() + ms;
  let n = await fn();
  while (n > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    n = await fn();
  }
  return n;
}

const SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast", "mysql", "performance_schema", "sys", "system", "INFORMATION_SCHEMA"];

export function driverSuite<C extends DatabaseConfig>(h: DriverHarness<C>): void {
  // Async collection: the config decides whether anything runs at all.
  describe(`driver suite: ${h.type}`, async () => {
    const cfg = await h.config();
    if (isSkip(cfg)) console.log(`SKIPPED ${h.type}: ${cfg.skip}`);
    describe.runIf(!isSkip(cfg))(h.type, () => {
      const config = cfg as C;
      let driver: Driver<C>;
      let conn: Connection;
      const mark = (m: string, sql: string) => (h.markSql ? h.markSql(m, sql) : `/* ${m} */ ${sql}`);
      const stmt = (sql: string, params: readonly unknown[] = []) => (h.native ? h.native(sql, params) : { text: sql, params });
      const run = (c: Connection, sql: string, params: readonly unknown[] = [], o: Partial<QueryOptions> = {}) => {
        const n = stmt(sql, params);
        return drain(c, n.text, n.params, o);
      };
      const idCol = h.idColumn ?? "id";
      const cols = [idCol, "name", "amount", "big", "created_at", "flag"];

      beforeAll(async () => {
        driver = await loadDriver(h);
        conn = await connectChecked(driver, config, { allowPrivateHosts: true });
        for (const sql of h.setupSql) await run(conn, sql, [], { readOnly: false });
      });
      afterAll(async () => {
        if (conn) {
          for (const sql of h.teardownSql ?? ["drop view if exists dsb_suite_view", `drop table if exists ${h.table}`]) {
            await run(conn, sql, [], { readOnly: false }).catch(() => undefined);
          }
          await conn.close();
        }
        await h.cleanup?.();
      });

      it("test() returns the server version", async () => {
        const r = await conn.test();
        expect(typeof r.serverVersion === "string" && r.serverVersion.length > 0).toBe(true);
      });

      it("introspect() lists the table with typed columns and primary key, the view, and no system schemas", async () => {
        const tables = await conn.introspect();
        const t = tables.find((x) => x.name.toLowerCase() === "dsb_suite_items");
        expect(t, "dsb_suite_items is listed").toBeDefined();
        expect(t!.kind).toBe(h.tableKind ?? "table");
        expect(t!.columns.map((c) => c.name.toLowerCase())).toEqual(cols);
        for (const c of t!.columns) expect(c.type.length).toBeGreaterThan(0);
        const col = (n: string) => t!.columns.find((c) => c.name.toLowerCase() === n)!;
        expect(col(idCol).primary_key).toBe(true);
        expect(col(idCol).nullable).toBe(false);
        expect(col("name").nullable).toBe(false);
        expect(col("amount").nullable).toBe(true);
        expect(col("amount").primary_key ?? false).toBe(false);
        const v = tables.find((x) => x.name.toLowerCase() === "dsb_suite_view");
        expect(v, "dsb_suite_view is listed").toBeDefined();
        expect(v!.kind).toBe("view");
        expect(v!.columns.map((c) => c.name.toLowerCase())).toEqual([idCol, "name"]);
        for (const x of tables) expect(SYSTEM_SCHEMAS).not.toContain(x.schema ?? "");
      });

      it("yields batches of at most batchRows and return() closes cleanly", async () => {
        const r = await run(conn, `select id from ${h.table} order by id`, [], { batchRows: 2 });
        expect(r.rows.length).toBe(3);
        for (const n of r.sizes) expect(n).toBeLessThanOrEqual(2);
        const one = stmt(`select id from ${h.table} order by id`);
        const stream = await conn.query(one.text, one.params, {
          readOnly: true, timeoutMs: 30_000, signal: new AbortController().signal, batchRows: 1,
        });
        const first = await stream.batches.next();
        expect(first.done).toBe(false);
        await stream.batches.return?.();
        // The connection is usable afterwards.
        const again = await run(conn, `select count(*) from ${h.table}`, []);
        expect(Number(again.rows[0]![0])).toBe(3);
      });

      // Streamed reads (a cursor) and capped reads (maxRows: a driver may fetch everything in one go) must agree.
      for (const mode of [{}, { maxRows: 100, batchRows: 100 }] as Partial<QueryOptions>[]) describe(mode.maxRows ? "capped reads" : "streamed reads", () => {
        it("query returns columns in order and values typed per API.md", async () => {
          const r = await run(conn, `select id, name, amount, big, created_at, flag from ${h.table} order by id`, [], mode);
          expect(r.columns.map((c) => c.name.toLowerCase())).toEqual(cols);
          for (const c of r.columns) expect(typeof c.type).toBe("string");
          expect(r.rows.length).toBe(3);
          const [a, b, g] = r.rows as unknown[][];
          expect(Number(a![0])).toBe(1);
          expect(a![1]).toBe("alpha");
          expect(["10.50", "10.5"]).toContain(a![2]);
          expect(a![3]).toBe("9007199254740993");
          expect(typeof a![4]).toBe("string");
          expect(a![4] as string).toMatch(/^2024-01-02T03:04:05/);
          expect([true, 1]).toContain(a![5]);
          expect(b![2]).toBeNull();
          expect([false, 0]).toContain(b![5]);
          expect(["7.25"]).toContain(g![2]);
          expect(g![4]).toBeNull();
          expect(g![5]).toBeNull();
        });

        it("integers are JSON numbers within ±(2^53−1) and text beyond, count(*) included (API.md Column values)", async () => {
          const r = await run(conn, `select big from ${h.table} order by id`, [], mode);
          expect(r.rows.map((x) => x[0])).toEqual(["9007199254740993", 2, 3]);
          const n = await run(conn, `select count(*) from ${h.table}`, [], mode);
          expect(n.rows[0]![0]).toBe(3);
        });

        it("binds positional parameters", async () => {
          const r = await run(conn, `select name from ${h.table} where id = ${h.placeholder(1, "int")}`, [2], mode);
          expect(r.rows).toEqual([["beta"]]);
          const s = await run(conn, `select id from ${h.table} where name = ${h.placeholder(1, "string")}`, ["gamma"], mode);
          expect(s.rows.map((x) => Number(x[0]))).toEqual([3]);
        });

        it.runIf(h.writeSql !== null)("refuses writes under the read-only default", async () => {
          const err = await run(conn, h.writeSql!, [], mode).then(() => null, (e: unknown) => e);
          expect(err).toBeInstanceOf(DriverError);
          expect((err as DriverError).kind).toBe("query");
          const r = await run(conn, `select count(*) from ${h.table}`, [], mode);
          expect(Number(r.rows[0]![0])).toBe(3);
        });
        if (h.writeSql === null && !mode.maxRows) console.log(`SKIPPED ${h.type} read-only check: the server cannot enforce read-only`);

        const sleep = h.sleepSql(30);
        if (sleep === null && !mode.maxRows) console.log(`SKIPPED ${h.type} cancel checks: the server has no sleep query`);

        it.runIf(sleep !== null)("a query over its timeout fails with kind timeout and is gone from the server", async () => {
          const marker = `dsb_timeout_${Math.random().toString(36).slice(2, 10)}`;
          const err = await run(conn, mark(marker, sleep!), [], { ...mode, timeoutMs: 1000 }).then(() => null, (e: unknown) => e);
          expect(err).toBeInstanceOf(DriverError);
          expect((err as DriverError).kind).toBe("timeout");
          if (h.runningQueries) expect(await eventuallyZero(() => h.runningQueries!(marker))).toBe(0);
        });

        it.runIf(sleep !== null)("aborting the signal cancels the query on the server", async () => {
          const marker = `dsb_abort_${Math.random().toString(36).slice(2, 10)}`;
          const ac = new AbortController();
          setTimeout(() => ac.abort(), 700);
          const err = await run(conn, mark(marker, sleep!), [], { ...mode, signal: ac.signal }).then(() => null, (e: unknown) => e);
          expect(err).toBeInstanceOf(DriverError);
          expect(["cancelled", "timeout"]).toContain((err as DriverError).kind);
          if (h.runningQueries) expect(await eventuallyZero(() => h.runningQueries!(marker))).toBe(0);
        });

        it.runIf(!!mode.maxRows)("a capped read returns the first maxRows rows and leaves the connection usable after an error", async () => {
          const r = await run(conn, `select id from ${h.table} order by id`, [], { maxRows: 2, batchRows: 2 });
          expect(r.rows.slice(0, 2).map((x) => Number(x[0]))).toEqual([1, 2]);
          await expect(run(conn, `select no_such_column from ${h.table}`, [], mode)).rejects.toBeInstanceOf(DriverError);
          const again = await run(conn, `select count(*) from ${h.table}`, [], mode);
          expect(Number(again.rows[0]![0])).toBe(3);
        });
      });

      it("bad credentials fail test() with kind connection and no secret in the message", async (ctx) => {
        const secret = `wrong-${Math.random().toString(36).slice(2, 10)}-pw`;
        const bad = h.badCredentials ? h.badCredentials(config) : { config: { ...config, password: secret } as C, secret };
        if (isSkip(bad)) {
          console.log(`SKIPPED ${h.type} bad credentials: ${bad.skip}`);
          ctx.skip();
          return;
        }
        let err: unknown = null;
        let c: Connection | null = null;
        try {
          c = await connectChecked(driver, bad.config, { allowPrivateHosts: true });
          await c.test();
        } catch (e) {
          err = e;
        } finally {
          await c?.close().catch(() => undefined);
        }
        expect(err).toBeInstanceOf(DriverError);
        expect((err as DriverError).kind).toBe("connection");
        expect((err as DriverError).message).not.toContain(bad.secret);
        expect((err as DriverError).message.length).toBeGreaterThan(10);
      });

      it("close() can be called twice", async () => {
        const c = await connectChecked(driver, config, { allowPrivateHosts: true });
        await c.test();
        await c.close();
        await c.close();
      });
    });
  });
}
