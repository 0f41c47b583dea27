import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ConfigOf } from "@dsb/contracts";
import { connectChecked } from "../../address-policy.ts";
import { redshiftDriver } from "../redshift/driver.ts";
import { driverSuite } from "../../../../../test/support/drivers/suite.ts";
import type { Connection } from "../types.ts";
import { postgresqlDriver } from "./driver.ts";
import { pgHarness } from "../../../../../test/support/drivers/postgresql.ts";
import { scratchDatabase, TEST_PG } from "../../../../../test/support/drivers/pg-scratch-db.ts";

driverSuite(pgHarness("postgresql"));

describe("postgresql driver specifics", async () => {
  const db = await scratchDatabase("dsb_connector_pgx_");
  const skip = "skip" in db;
  if ("skip" in db) console.log(`SKIPPED postgresql specifics: ${db.skip}`);
  describe.runIf(!skip)("against the local PostgreSQL", () => {
    const scratch = db as Exclude<typeof db, { skip: string }>;
    const config = { type: "postgresql", host: TEST_PG.host, port: TEST_PG.port, username: TEST_PG.user, password: TEST_PG.password, database: scratch.name, allow_writes: false } as ConfigOf<"postgresql">;
    let conn: Connection;
    beforeAll(async () => {
      // 2,000 tables with a primary key, a comment and a view.
      await scratch.admin(`select 1`);
      const c = new pg.Client({ ...TEST_PG, database: scratch.name });
      c.on("error", () => undefined);
      await c.connect();
      // In batches: one transaction locking 2,000 new tables (and their indexes) runs out of
      // max_locks_per_transaction when other test files hold locks at the same time.
      for (let from = 1; from <= 2000; from += 200)
        await c.query(`do $$ begin for i in ${from}..${from + 199} loop execute format('create table t%s (id int primary key, v text, n numeric(10,2))', i); end loop; end $$`);
      await c.query(`comment on table t1 is 'first table'; comment on column t1.v is 'the value'; create view v1 as select id from t1; analyze t2`);
      await c.end();
      conn = await connectChecked(postgresqlDriver, config, { allowPrivateHosts: true });
    }, 120_000);
    afterAll(async () => {
      await conn?.close();
      await scratch.drop();
    });

    it("introspects 2,000 tables in a few queries, not thousands", async () => {
      const spy = vi.spyOn(pg.Client.prototype, "query");
      try {
        const tables = await conn.introspect();
        expect(tables.filter((t) => t.kind === "table")).toHaveLength(2000);
        expect(spy.mock.calls.length).toBeLessThanOrEqual(3);
        const t1 = tables.find((t) => t.name === "t1")!;
        expect(t1).toMatchObject({ schema: "public", kind: "table", comment: "first table" });
        expect(t1.columns).toEqual([
          { name: "id", type: "integer", nullable: false, primary_key: true },
          { name: "v", type: "text", nullable: true, primary_key: false, comment: "the value" },
          { name: "n", type: "numeric(10,2)", nullable: true, primary_key: false },
        ]);
        expect(tables.find((t) => t.name === "v1")).toMatchObject({ kind: "view", rowCount: null });
        expect(tables.find((t) => t.name === "t2")!.rowCount).toBe(0);
      } finally {
        spy.mockRestore();
      }
    });

    it("row counts of tables never analysed: the statistics' live tuples, else an estimate from the relation's size; 0 when empty", async () => {
      const c = new pg.Client({ ...TEST_PG, database: scratch.name });
      c.on("error", () => undefined);
      await c.connect();
      await c.query("create table rc_live (id int, v text); insert into rc_live select g, 'value ' || g from generate_series(1, 500) g");
      await c.query("create table rc_reset (id int, v text); insert into rc_reset select g, 'value ' || g from generate_series(1, 500) g");
      await c.end(); // a backend flushes its statistics when it ends (soon after the client leaves)
      const c2 = new pg.Client({ ...TEST_PG, database: scratch.name });
      c2.on("error", () => undefined);
      await c2.connect();
      try {
        const live = async () => Number((await c2.query("select pg_stat_get_live_tuples('rc_reset'::regclass) + pg_stat_get_live_tuples('rc_live'::regclass) as n")).rows[0].n);
        for (let i = 0; i < 100 && (await live()) < 1000; i++) await new Promise((r) => setTimeout(r, 100));
        await c2.query("select pg_stat_clear_snapshot(), pg_stat_reset_single_table_counters('rc_reset'::regclass)");
        const objects = await conn.introspect();
        const count = (name: string) => objects.find((t) => t.name === name)!.rowCount;
        expect(count("rc_live")).toBe(500);
        // No statistics at all: the size over an estimated row width, the right order of magnitude.
        expect(count("rc_reset")).toBeGreaterThan(150);
        expect(count("rc_reset")).toBeLessThan(1500);
        expect(count("t3")).toBe(0);
        expect(count("v1")).toBeNull();
        const json = await conn.introspectJson!();
        expect(json.tablesJson).toBe(JSON.stringify(objects));
        expect(json.totalRows).toBe(objects.reduce((n, t) => n + (t.kind === "table" && t.rowCount ? t.rowCount : 0), 0));
        expect(json.totalRows).toBeGreaterThanOrEqual(500 + count("rc_reset")!);
      } finally {
        await c2.query("drop table if exists rc_live, rc_reset");
        await c2.end();
      }
    });

    it("introspectJson turns JIT off for its statement only: the pooled session keeps its setting", async () => {
      const jit = async () => {
        const s = await conn.query("select current_setting('jit') as j", [], { readOnly: true, timeoutMs: 5000, signal: new AbortController().signal, batchRows: 10 });
        const r = await s.batches.next();
        await s.batches.return?.();
        return (r.value as unknown[][])[0]![0];
      };
      const before = await jit();
      const json = await conn.introspectJson!();
      expect(json.tablesJson).toBe(JSON.stringify(await conn.introspect()));
      expect(await jit()).toBe(before);
    });

    it("introspectJson prints exactly JSON.stringify(introspect()): escapes, comments, empty tables, other schemas", async () => {
      const c = new pg.Client({ ...TEST_PG, database: scratch.name });
      c.on("error", () => undefined);
      await c.connect();
      try {
        await c.query(`create schema "Other ""Schema"""; create table "Other ""Schema"""."we""ird\ttab\\" ("ü ""x""
line" int primary key, plain text, "nöte" bigint); create table no_columns (); create view "v ✓" as select 1 as one`);
        await c.query(`comment on column "Other ""Schema"""."we""ird\ttab\\"."ü ""x""
line" is E'quote " backslash \\ newline\n tab\t ctrl \x01 unicode ✓ \u2028'; comment on column "Other ""Schema"""."we""ird\ttab\\".plain is ''; comment on table no_columns is 'tabellen "kommentar"'`);
        const objects = await conn.introspect();
        const json = await conn.introspectJson!();
        expect(json.tablesJson).toBe(JSON.stringify(objects));
        expect(json.schemas).toEqual(['Other "Schema"', "public"]);
        // Streamed as the rows arrive (onTable): the same tables, in order, and the same summary.
        const streamed: string[] = [];
        const summary = await conn.introspectJson!((t) => streamed.push(t));
        expect(`[${streamed.join(",")}]`).toBe(json.tablesJson);
        expect(summary).toEqual({ ...json, tablesJson: "" });
        const tables = JSON.parse(json.tablesJson) as { name: string; columns: { name: string; comment?: string }[]; comment?: string }[];
        const weird = tables.find((t) => t.name === 'we"ird\ttab\\')!;
        expect(weird.columns.map((col) => col.name)).toEqual(['ü "x"\nline', "plain", "nöte"]);
        for (const part of ['quote "', "newline\n", "tab\t", "ctrl \u0001", "unicode ✓ \u2028"]) expect(weird.columns[0]!.comment).toContain(part);
        expect("comment" in weird.columns[1]!).toBe(false);
        expect(tables.find((t) => t.name === "no_columns")).toMatchObject({ columns: [], comment: 'tabellen "kommentar"' });
      } finally {
        await c.query(`drop schema "Other ""Schema""" cascade; drop table no_columns; drop view "v ✓"`).catch(() => undefined);
        await c.end();
      }
    });

    it("redshift's catalog queries introspect 2,000 tables in four queries on PostgreSQL", async () => {
      const rs = await connectChecked(redshiftDriver, { ...config, type: "redshift" } as ConfigOf<"redshift">, { allowPrivateHosts: true });
      const spy = vi.spyOn(pg.Client.prototype, "query");
      try {
        const tables = await rs.introspect();
        expect(spy.mock.calls.length).toBeLessThanOrEqual(5);
        expect(tables.filter((t) => t.kind === "table")).toHaveLength(2000);
        expect(tables.find((t) => t.name === "t1")!.columns[0]).toEqual({ name: "id", type: "integer", nullable: false, primary_key: true });
        expect(tables.find((t) => t.name === "t1")!.columns[2]!.type).toBe("numeric(10,2)");
      } finally {
        spy.mockRestore();
        await rs.close();
      }
    });

    it("maps values: int8 a number within ±(2^53−1) and text beyond, numeric strings, timestamptz UTC ISO, bytea base64, json parsed, arrays", async () => {
      const s = await conn.query(
        `select 9007199254740993::int8 as a, 1.50::numeric as b, '2024-01-02 03:04:05.123456+02'::timestamptz as c, '2024-01-02'::date as d,
                '\\x48656c6c6f'::bytea as e, '{"k":[1,2]}'::jsonb as f, array[1,2]::int8[] as g, 42 as h, 1.5::float8 as i, 'x' as i,
                9007199254740991::int8 as j, -9007199254740991::int8 as k, -9007199254740992::int8 as l, count(*) as m`,
        [], { readOnly: true, timeoutMs: 5000, signal: new AbortController().signal, batchRows: 10 });
      const r = await s.batches.next();
      await s.batches.return?.();
      expect(s.columns.map((c) => c.name)).toEqual(["a", "b", "c", "d", "e", "f", "g", "h", "i", "i", "j", "k", "l", "m"]);
      expect(s.columns.map((c) => c.type)).toEqual(["int8", "numeric", "timestamptz", "date", "bytea", "jsonb", "_int8", "int4", "float8", "text", "int8", "int8", "int8", "int8"]);
      expect(r.value).toEqual([["9007199254740993", "1.50", "2024-01-02T01:04:05.123456Z", "2024-01-02", "SGVsbG8=", { k: [1, 2] }, [1, 2], 42, 1.5, "x",
        9007199254740991, -9007199254740991, "-9007199254740992", 1]]);
    });

    it("a write needs readOnly false; the database error comes back without connection details", async () => {
      const run = async (sql: string, readOnly: boolean) => {
        const s = await conn.query(sql, [], { readOnly, timeoutMs: 5000, signal: new AbortController().signal, batchRows: 10 });
        for (let r = await s.batches.next(); !r.done; r = await s.batches.next());
      };
      await expect(run("insert into t1 values (1, 'a', 1)", true)).rejects.toThrow(/Read-only query refused: INSERT is not a query/);
      await run("insert into t1 values (1, 'a', 1)", false);
      const err = await run("select nope from t1", true).then(() => null, (e: Error) => e);
      expect(err!.message).toContain('column "nope" does not exist');
      expect(err!.message).not.toContain(TEST_PG.host);
    });

    it("a capped read (one pipelined round trip) cannot escape its read-only transaction", async () => {
      const run = async (sql: string) => {
        const s = await conn.query(sql, [], { readOnly: true, timeoutMs: 5000, signal: new AbortController().signal, batchRows: 10, maxRows: 10 });
        const rows: unknown[][] = [];
        for (let r = await s.batches.next(); !r.done; r = await s.batches.next()) rows.push(...r.value);
        return rows;
      };
      const count = async () => Number((await run("select count(*) from t2"))[0]![0]);
      // The guard refuses these on the parse tree, before the server sees them (read-only.test.ts has the full list).
      await expect(run("commit; insert into t2 values (7, 'x', 1)")).rejects.toThrow(/2 statements/);
      await expect(run("insert into t2 values (7, 'x', 1)")).rejects.toThrow(/INSERT is not a query/);
      await expect(run("set session characteristics as transaction read write")).rejects.toThrow(/SET \/ RESET changes session state/);
      await expect(run("select set_config('default_transaction_read_only', 'off', false)")).rejects.toThrow(/set_config\(\) changes session state/);
      // What passes the guard still runs in a read-only transaction.
      await expect(run("select * from t2 for update")).rejects.toThrow(/read-only transaction/);
      expect(await count()).toBe(0);
    });

    it("a capped read sets its statement timeout once per session: the next ones with the same timeout send no SET and are still bounded by it", async () => {
      const run = async (sql: string, timeoutMs: number, readOnly = true) => {
        const s = await conn.query(sql, [], { readOnly, timeoutMs, signal: new AbortController().signal, batchRows: 10, maxRows: 10 });
        const rows: unknown[][] = [];
        for (let r = await s.batches.next(); !r.done; r = await s.batches.next()) rows.push(...r.value);
        return rows;
      };
      const setting = async (timeoutMs: number) => (await run("select current_setting('statement_timeout')", timeoutMs))[0]![0];
      const parsed = vi.spyOn(pg.Connection.prototype, "parse");
      const sent = vi.spyOn(pg.Client.prototype, "query");
      const sets = () => parsed.mock.calls.map(([m]) => (m as { text: string }).text).filter((t) => t.startsWith("SET"));
      try {
        // One read at a time: the pool hands the same idle session back (last in, first out).
        for (let i = 0; i < 3; i++) expect(await setting(4321)).toBe("4321ms");
        expect(sets()).toEqual(["SET statement_timeout = 4321"]);
        expect(await setting(2500)).toBe("2500ms");
        // The server's own timeout still stops a read that sends no SET (the client's timer would say "user request").
        expect(sets()).toHaveLength(2);
        const err = await run("select pg_sleep(10)", 2500).then(() => null, (e: Error) => e);
        expect(sets()).toHaveLength(2);
        expect(err).toMatchObject({ kind: "timeout" });
        expect(String((err!.cause as Error).message)).toMatch(/statement timeout/);
        // A short timeout is set for its transaction only, a write's too (and DISCARD ALL resets the session after it).
        expect(await setting(200)).toBe("200ms");
        await run("select 1", 5000, false);
        expect(sets().slice(-2)).toEqual(["SET LOCAL statement_timeout = 200", "SET LOCAL statement_timeout = 5000"]);
        expect(await setting(2500)).toBe("2500ms");
        expect(sets().at(-1)).toBe("SET statement_timeout = 2500");
        // Catalog queries and tests run under the server's own setting, as before.
        await conn.test();
        expect(sent.mock.calls.some(([q]) => q === "RESET statement_timeout")).toBe(true);
      } finally {
        parsed.mockRestore();
        sent.mockRestore();
      }
    });

    it("driver jargon gets a plain sentence first, PostgreSQL's own message after it (streamed and capped reads)", async () => {
      const fail = async (sql: string, params: unknown[], maxRows?: number, readOnly = true) => {
        const s = await conn.query(sql, params, { readOnly, timeoutMs: 5000, signal: new AbortController().signal, batchRows: 10, ...(maxRows ? { maxRows } : {}) });
        for (let r = await s.batches.next(); !r.done; r = await s.batches.next());
        throw new Error("expected a failure");
      };
      for (const maxRows of [undefined, 10]) {
        const bind = await fail("select $1::int + $2::int", [1], maxRows).catch((e: Error) => e.message);
        expect(bind).toMatch(/^The query has 2 placeholders \(\$1…\$2\) but 1 parameter was given; send one value in params for each placeholder\. PostgreSQL said: bind message supplies 1 parameters/);
        // Read-only queries are refused earlier by the guard (one statement per query); a write-allowed one reaches the server.
        const multi = await fail("select 1; select 2", [], maxRows, false).catch((e: Error) => e.message);
        expect(multi).toMatch(/^A query runs one statement; .*PostgreSQL said: cannot insert multiple commands into a prepared statement/);
        const end = await fail("select * from t1 where", [], maxRows).catch((e: Error) => e.message);
        expect(end).toMatch(/^The SQL ends before the statement is complete.*PostgreSQL said: syntax error at end of input/);
        const untyped = await fail("select $1", [], maxRows).catch((e: Error) => e.message);
        expect(untyped).toMatch(/^(PostgreSQL cannot tell the type of parameter \$1|The query has 1 placeholder)/);
      }
      // A plain message stays as it is.
      const plain = await fail("select nope from t1", []).catch((e: Error) => e.message);
      expect(plain).toMatch(/^column "nope" does not exist/);
    });

    it("an unreachable port fails with a helpful connection error", async () => {
      const bad = await connectChecked(postgresqlDriver, { ...config, port: 1 }, { allowPrivateHosts: true });
      await expect(bad.test()).rejects.toMatchObject({ kind: "connection", message: expect.stringContaining("Connection refused by 127.0.0.1:1") });
      await bad.close();
    });
  });
});
