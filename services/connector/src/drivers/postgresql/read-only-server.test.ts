/**
 * Read-only mode against the real PostgreSQL with a superuser login (postgres),
 * where a read-only transaction alone stops none of these: every attack is
 * refused before it reaches the server, on every read path (capped one-shot,
 * streamed cursor, CSV export via COPY), and nothing it would have done happens.
 * And session state a read-write statement leaves does not reach the next user.
 */
import { existsSync, rmSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigOf } from "@dsb/contracts";
import { connectChecked } from "../../address-policy.ts";
import { drain } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection, type QueryOptions } from "../types.ts";
import { redshiftDriver } from "../redshift/driver.ts";
import { postgresqlDriver, type PgConnection } from "./driver.ts";
import { scratchDatabase, TEST_PG } from "../../../../../test/support/drivers/pg-scratch-db.ts";

const tag = Math.random().toString(36).slice(2, 8);
const MARKER = `/tmp/dsb-readonly-${tag}`;
const LOW_ROLE = `dsb_ro_low_${tag}`;
const FILES_ROLE = `dsb_ro_files_${tag}`;

/** The three read paths of the driver. */
const PATHS: Record<string, Partial<QueryOptions>> = { capped: { maxRows: 10, batchRows: 10 }, streamed: {} };

describe("PostgreSQL read-only mode on a superuser login", async () => {
  const db = await scratchDatabase("dsb_connector_ro_");
  if ("skip" in db) console.log(`SKIPPED postgresql read-only: ${db.skip}`);
  describe.runIf(!("skip" in db))("against the local PostgreSQL", () => {
    const scratch = db as Exclude<typeof db, { skip: string }>;
    const config = (user = TEST_PG.user) => ({
      type: "postgresql", host: TEST_PG.host, port: TEST_PG.port, username: user, password: TEST_PG.password,
      database: scratch.name, allow_writes: true,
    }) as ConfigOf<"postgresql">;
    let conn: Connection;
    let admin: pg.Client;
    const largeObjects = async () => Number((await admin.query("select count(*) as n from pg_largeobject_metadata")).rows[0].n);
    const refusal = (e: unknown) => {
      expect(e).toBeInstanceOf(DriverError);
      expect((e as DriverError).kind).toBe("query");
      expect((e as DriverError).message).toMatch(/^Read-only query refused: /);
      return (e as DriverError).message;
    };

    beforeAll(async () => {
      admin = new pg.Client({ ...TEST_PG, database: scratch.name });
      admin.on("error", () => undefined);
      await admin.connect();
      await admin.query("create table orders (id int primary key, amount numeric(10,2)); insert into orders values (1, 10.5), (2, 3)");
      await admin.query(`create role ${LOW_ROLE} login; grant select on orders to ${LOW_ROLE}`);
      await admin.query(`create role ${FILES_ROLE} login; grant pg_read_server_files to ${FILES_ROLE}`);
      conn = await connectChecked(postgresqlDriver, config(), { allowPrivateHosts: true });
    });
    afterAll(async () => {
      await conn?.close();
      rmSync(MARKER, { force: true });
      await admin?.query(`drop owned by ${LOW_ROLE}; drop role if exists ${LOW_ROLE}; drop role if exists ${FILES_ROLE}`).catch(() => undefined);
      await admin?.end().catch(() => undefined);
      await scratch.drop();
    });

    it("the marker file is observable: COPY … TO PROGRAM does create it in read-write mode (control)", async () => {
      // The program reads its input first: `touch` alone may exit before COPY has written, a broken pipe.
      await drain(conn, `copy (select 1) to program 'cat > /dev/null; touch ${MARKER}'`, [], { readOnly: false });
      expect(existsSync(MARKER)).toBe(true);
      rmSync(MARKER, { force: true });
      expect(existsSync(MARKER)).toBe(false);
    });

    const attacks: [string, RegExp][] = [
      [`copy (select 1) to program 'touch ${MARKER}'`, /PROGRAM runs a program/],
      [`copy orders to '${MARKER}'`, /COPY to or from a file/],
      ["select lo_import('/etc/hostname')", /lo_import\(\)/],
      ["with x as (select pg_catalog.lo_import('/etc/hostname') as id) select id from x", /lo_import\(\)/],
      ["select * from (select \"lo_import\"('/etc/hostname')) s", /lo_import\(\)/],
      ["select pg_read_file('/etc/hostname')", /pg_read_file\(\)/],
      ["select length(PG_CATALOG.PG_READ_BINARY_FILE('/etc/hostname'))", /pg_read_binary_file\(\)/],
      ["select pg_reload_conf()", /pg_reload_conf\(\)/],
      ["select (x).lo_import from (select '/etc/hostname'::text x) s", /lo_import \(a function called in attribute notation\)/],
      ["select (x).pg_read_file from (select '/etc/hostname'::text x) s", /pg_read_file \(a function called in attribute notation\)/],
      ["select pg_terminate_backend(pid) from pg_stat_activity where false", /pg_terminate_backend\(\)/],
      ["commit; drop table orders", /2 statements/],
      ["set role postgres", /SET ROLE/],
      ["set search_path = pg_catalog", /SET \/ RESET/],
      ["set session authorization postgres", /SET SESSION AUTHORIZATION/],
    ];

    for (const [path, mode] of Object.entries(PATHS))
      it(`refuses every attack on the ${path} path, and none of them has any effect`, async () => {
        const before = await largeObjects();
        for (const [sql, why] of attacks) {
          const err = await drain(conn, sql, [], { ...mode, readOnly: true }).then(() => null, (e: unknown) => e);
          expect(refusal(err), sql).toMatch(why);
        }
        expect(existsSync(MARKER)).toBe(false);
        expect(await largeObjects()).toBe(before);
        const r = await drain(conn, "select count(*) from orders", [], mode);
        expect(Number(r.rows[0]![0])).toBe(2);
      });

    it("refuses every attack on the CSV export path (checked before it is wrapped in COPY)", async () => {
      const pgConn = conn as PgConnection;
      const before = await largeObjects();
      for (const [sql, why] of attacks) {
        const err = await pgConn.copyCsv(sql, [], { readOnly: true, timeoutMs: 5000, signal: new AbortController().signal }).then(() => null, (e: unknown) => e);
        expect(refusal(err), sql).toMatch(why);
      }
      expect(existsSync(MARKER)).toBe(false);
      expect(await largeObjects()).toBe(before);
      // An honest export still runs.
      const csv = await pgConn.copyCsv("select id from orders order by id", [], { readOnly: true, timeoutMs: 5000, signal: new AbortController().signal });
      const page = Buffer.alloc(1024);
      const n = await csv!.read(page);
      expect(page.subarray(0, n).toString()).toBe("1\r\n2\r\n");
      expect(csv!.done()).toBe(true);
    });

    it("a session-level SET search_path of a read-write query does not reach the next users of the pool", async () => {
      for (let i = 0; i < 15; i++) await drain(conn, "set search_path = pg_catalog", [], { readOnly: false, ...(i % 2 ? PATHS.capped : {}) });
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
        drain(conn, "select count(*) from orders", [], i % 2 ? PATHS.capped : {}).then((r) => Number(r.rows[0]![0]), (e: Error) => e.message)));
      expect(results).toEqual(Array(40).fill(2));
    });

    it("SET ROLE and SET SESSION AUTHORIZATION of a read-write query do not reach the next users of the pool", async () => {
      for (let i = 0; i < 8; i++) {
        await drain(conn, `set role ${LOW_ROLE}`, [], { readOnly: false, ...(i % 2 ? PATHS.capped : {}) });
        await drain(conn, `set session authorization ${LOW_ROLE}`, [], { readOnly: false, ...(i % 2 ? {} : PATHS.capped) });
      }
      const users = await Promise.all(Array.from({ length: 40 }, (_, i) =>
        drain(conn, "select current_user::text, session_user::text", [], i % 2 ? PATHS.capped : {}).then((r) => r.rows[0]!.join("/"))));
      expect(users).toEqual(Array(40).fill(`${TEST_PG.user}/${TEST_PG.user}`));
    });

    it("Redshift (same driver, no DISCARD): the guard refuses the same, and a read-write session is closed instead of reused", async () => {
      const rs = await connectChecked(redshiftDriver, { ...config(), type: "redshift", port: TEST_PG.port } as ConfigOf<"redshift">, { allowPrivateHosts: true });
      try {
        for (const [sql, why] of attacks) {
          const err = await drain(rs, sql, [], PATHS.capped).then(() => null, (e: unknown) => e);
          expect(refusal(err), sql).toMatch(why);
        }
        for (let i = 0; i < 5; i++) await drain(rs, "set search_path = pg_catalog", [], { readOnly: false });
        const counts = await Promise.all(Array.from({ length: 20 }, () => drain(rs, "select count(*)::int from orders", [], PATHS.capped).then((r) => r.rows[0]![0])));
        expect(counts).toEqual(Array(20).fill(2));
        expect((await rs.test()).warnings).toEqual([expect.objectContaining({ code: "SUPERUSER_LOGIN" })]);
      } finally {
        await rs.close();
      }
    });

    it("test() warns about a superuser login and a member of pg_read_server_files, not about a plain login", async () => {
      expect((await conn.test()).warnings).toEqual([expect.objectContaining({ code: "SUPERUSER_LOGIN", message: expect.stringMatching(/superuser.*grant it only SELECT/) })]);
      for (const [role, expected] of [[FILES_ROLE, [expect.objectContaining({ code: "SERVER_FILE_ACCESS", message: expect.stringContaining("pg_read_server_files") })]], [LOW_ROLE, []]] as const) {
        const c = await connectChecked(postgresqlDriver, config(role), { allowPrivateHosts: true });
        try {
          expect((await c.test()).warnings).toEqual(expected);
        } finally {
          await c.close();
        }
      }
    });
  });
});
