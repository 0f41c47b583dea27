import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import { drain, driverSuite, queryOptions } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection } from "../types.ts";
import { bindMysql, mysqlLiteral, mysqlPlaceholders } from "./bind.ts";
import { mysqlTargets, resolveMysqlConfig, type MysqlConfig } from "./config.ts";
import { mysqlDriver } from "./driver.ts";
import { bitValue, isoDateTime } from "./types.ts";
import { mysqlFixture, type MysqlFixture } from "../../../../../test/support/drivers/mysql.ts";


const local = { address: "127.0.0.1", hostname: "127.0.0.1", port: 3306 };

// One fixture (user + scratch database) per file, made through the socket as root.
let fixtureP: Promise<MysqlFixture | { skip: string }> | null = null;
const fixture = () => (fixtureP ??= mysqlFixture());
const ready = async () => {
  const f = await fixture();
  return "skip" in f ? null : f;
};

driverSuite<MysqlConfig>({
  type: "mysql",
  driver: mysqlDriver,
  config: async () => {
    const f = await fixture();
    return "skip" in f ? f : f.config;
  },
  setupSql: [
    "drop view if exists dsb_suite_view",
    "drop table if exists dsb_suite_items",
    "create table dsb_suite_items (id integer primary key, name varchar(100) not null, amount decimal(12,2), big bigint, created_at timestamp null, flag boolean)",
    "insert into dsb_suite_items values (1,'alpha',10.50,9007199254740993,'2024-01-02 03:04:05',true),(2,'beta',NULL,2,'2024-02-03 04:05:06',false),(3,'gamma',7.25,3,NULL,NULL)",
    "create view dsb_suite_view as select id, name from dsb_suite_items",
  ],
  table: "dsb_suite_items",
  placeholder: () => "?",
  sleepSql: (s) => `select sleep(${s})`,
  runningQueries: async (marker) => {
    const f = await ready();
    if (!f) return 0;
    const rows = await f.root<unknown[][]>(
      "select count(*) from information_schema.PROCESSLIST where INFO like ? and ID <> CONNECTION_ID()", [`%${marker}%`]);
    return Number(rows[0]![0]);
  },
  writeSql: "insert into dsb_suite_items (id, name) values (99, 'written')",
  cleanup: async () => (await ready())?.drop(),
});

describe("mysql config (connection_string, ssl, targets)", () => {
  const base = { type: "mysql", port: 3306, allow_writes: false } as const;

  it("reads host, port, user, password, database and ssl-mode from a connection_string", () => {
    const r = resolveMysqlConfig({ ...base, connection_string: "mysql://ann:p%40ss%3Aw0rd@db.example.com:3307/sales?ssl-mode=VERIFY_IDENTITY" });
    expect(r).toMatchObject({ host: "db.example.com", port: 3307, user: "ann", password: "p@ss:w0rd", database: "sales" });
    expect(r.ssl.mode).toBe("verify-full");
    expect(mysqlTargets({ ...base, connection_string: "mariadb://u@10.0.0.5/db" })).toEqual([{ hostname: "10.0.0.5", port: 3306 }]);
  });

  it("lets the connection_string win and the fields fill in what it leaves out", () => {
    const r = resolveMysqlConfig({ ...base, host: "ignored", username: "field-user", database: "fielddb", connection_string: "mysql://db.example.com" });
    expect(r).toMatchObject({ host: "db.example.com", user: "field-user", database: "fielddb" });
    expect(r.ssl.mode).toBe("prefer");
  });

  it("rejects a malformed connection_string without echoing it (it carries the password)", () => {
    for (const cs of ["not a url s3cr3t", "postgres://u:s3cr3t@h/db", "mysql://u:s3cr3t@h/db?ssl-mode=bogus"]) {
      let err: unknown;
      try {
        resolveMysqlConfig({ ...base, connection_string: cs });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("VALIDATION");
      expect((err as AppError).message).not.toContain("s3cr3t");
    }
  });
});

describe("mysql parameter binding", () => {
  it("skips ? inside quotes, identifiers and comments", () => {
    const sql = "select '?', \"?\", `a?b`, 'it''s ?', 'a\\'?' -- ?\n, ? # ?\n /* ? */ , ?";
    expect(mysqlPlaceholders(sql).length).toBe(2);
    expect(bindMysql(sql, [1, "x"])).toContain(", 1 #");
  });

  it("writes strings as hex literals, so quotes and backslashes are data whatever the sql_mode", () => {
    expect(mysqlLiteral("a'b\\")).toBe(`_utf8mb4 X'${Buffer.from("a'b\\").toString("hex")}'`);
    expect(mysqlLiteral(null)).toBe("NULL");
    expect(mysqlLiteral(true)).toBe("TRUE");
    expect(mysqlLiteral([1, "a"])).toBe(`1, _utf8mb4 X'61'`);
    expect(() => mysqlLiteral({ a: 1 })).toThrow(DriverError);
    expect(() => mysqlLiteral(Number.NaN)).toThrow(DriverError);
  });

  it("sees placeholders inside executable comments, not inside literals (read-only.test.ts: the guard)", () => {
    expect(mysqlPlaceholders("select /*!50000 ? */ 1, '?' /* ? */")).toEqual([16]);
  });

  it("refuses a count mismatch with a sentence", () => {
    expect(() => bindMysql("select ?, ?", [1])).toThrow("The query has 2 ? placeholders but 1 parameter was given");
    expect(bindMysql("select '?'", [])).toBe("select '?'");
  });
});

describe("mysql value mapping helpers", () => {
  it("formats DATETIME/TIMESTAMP text as ISO-8601 and keeps zero dates", () => {
    expect(isoDateTime("2024-01-02 03:04:05.123", true)).toBe("2024-01-02T03:04:05.123Z");
    expect(isoDateTime("2024-01-02 03:04:05", false)).toBe("2024-01-02T03:04:05");
    expect(isoDateTime("0000-00-00 00:00:00", false)).toBe("0000-00-00 00:00:00");
  });
  it("reads BIT values", () => {
    expect(bitValue(Buffer.from([1]), 1)).toBe(true);
    expect(bitValue(Buffer.from([1, 2]), 16)).toBe(258);
    expect(bitValue(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 64)).toBe("18446744073709551615");
  });
});

describe("mysql driver against MariaDB", () => {
  let f: MysqlFixture | null = null;
  let conn: Connection;
  let skipReason = "";

  beforeAll(async () => {
    // Its own scratch database: the suite's is dropped by the suite's cleanup.
    const r = await mysqlFixture();
    if ("skip" in r) {
      skipReason = r.skip;
      console.log(`SKIPPED mysql driver tests: ${r.skip}`);
      return;
    }
    f = r;
    conn = await mysqlDriver.connect(f.config, [local]);
    await drain(conn, "create table if not exists dsb_types (id int primary key, b varbinary(8), bl blob, bit1 bit(1), dt datetime(3), d date, j json, u bigint unsigned, t text)", [], { readOnly: false });
    await drain(conn, "delete from dsb_types", [], { readOnly: false });
    await drain(conn,
      "insert into dsb_types values (1, x'00ff10', x'68656c6c6f', b'1', '2024-05-06 07:08:09.250', '2024-05-06', '{\"a\": 1}', 18446744073709551615, 'héllo ✓')",
      [], { readOnly: false });
  });
  afterAll(async () => {
    await conn?.close();
    await f?.drop();
  });

  const live = (name: string, fn: () => Promise<void>) => it(name, async (ctx) => {
    if (!f) {
      console.log(`SKIPPED ${name}: ${skipReason}`);
      ctx.skip();
      return;
    }
    await fn();
  });

  live("refuses LOAD DATA LOCAL INFILE (the client never offers local files)", async () => {
    const file = join(tmpdir(), `dsb-infile-${process.pid}.csv`);
    writeFileSync(file, "42,secret-file-content\n");
    await drain(conn, "create table if not exists dsb_infile (id int, s varchar(100))", [], { readOnly: false });
    const err = await drain(conn, `load data local infile '${file}' into table dsb_infile fields terminated by ','`, [], { readOnly: false }).then(
      () => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("query");
    const n = await drain(conn, "select count(*) from dsb_infile");
    expect(n.rows[0]![0]).toBe(0);
  });

  live("maps binary to base64, BIT(1) to boolean, DATETIME to ISO, unsigned BIGINT and JSON to strings", async () => {
    const r = await drain(conn, "select b, bl, bit1, dt, d, j, u, t from dsb_types");
    expect(r.columns.map((c) => c.type)).toEqual(["VARBINARY", "BLOB", "BIT", "DATETIME", "DATE", expect.stringMatching(/JSON|TEXT/), "BIGINT UNSIGNED", "TEXT"]);
    const [row] = r.rows;
    expect(row![0]).toBe(Buffer.from([0, 0xff, 0x10]).toString("base64"));
    expect(row![1]).toBe(Buffer.from("hello").toString("base64"));
    expect(row![2]).toBe(true);
    expect(row![3]).toBe("2024-05-06T07:08:09.250");
    expect(row![4]).toBe("2024-05-06");
    expect(JSON.parse(row![5] as string)).toEqual({ a: 1 });
    expect(row![6]).toBe("18446744073709551615");
    expect(row![7]).toBe("héllo ✓");
  });

  live("read-only refuses DDL too (a DDL's implicit commit would escape a read-only transaction alone)", async () => {
    for (const sql of ["create table dsb_ro_probe (id int)", "drop table dsb_types", "truncate table dsb_types", "insert into dsb_types (id) values (7)"]) {
      const err = await drain(conn, sql).then(() => null, (e: unknown) => e);
      expect(err, sql).toBeInstanceOf(DriverError);
      expect((err as DriverError).kind).toBe("query");
    }
    const outfile = await drain(conn, "select 1 into outfile '/tmp/dsb_outfile_refused.txt'").then(() => null, (e: unknown) => e);
    expect((outfile as DriverError).message).toMatch(/INTO OUTFILE/);
    const tables = await drain(conn, "show tables like 'dsb_ro_probe'");
    expect(tables.rows).toEqual([]);
    expect((await drain(conn, "select count(*) from dsb_types")).rows).toEqual([[1]]);
  });

  live("binds hostile strings as data", async () => {
    const evil = "x' OR '1'='1\\";
    const r = await drain(conn, "select ? as v, ? as n, ? as q", [evil, null, "?"]);
    expect(r.rows).toEqual([[evil, null, "?"]]);
  });

  live("a write with writes allowed reports affected rows, and read-only rolls nothing back into the pool", async () => {
    const w = await drain(conn, "update dsb_types set t = ? where id = ?", ["changed", 1], { readOnly: false });
    expect(w.columns).toEqual([{ name: "affected_rows", type: "BIGINT" }]);
    expect(w.rows).toEqual([[1]]);
    // Read-only transactions are rolled back: the next statement on the same pool writes normally.
    await drain(conn, "select 1");
    const again = await drain(conn, "update dsb_types set t = ? where id = ?", ["héllo ✓", 1], { readOnly: false });
    expect(again.rows).toEqual([[1]]);
  });

  live("waiting for a pooled connection counts against the timeout and honours abort", async () => {
    const c = await mysqlDriver.connect(f!.config, [local]);
    try {
      // Hold all 15 connections with streams nobody reads.
      const held = await Promise.all(Array.from({ length: 15 }, () => c.query("select 1", [], queryOptions())));
      const timedOut = await c.query("select 2", [], queryOptions({ timeoutMs: 300 })).then(() => null, (e: unknown) => e);
      expect((timedOut as DriverError).kind).toBe("timeout");
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const aborted = await c.query("select 3", [], queryOptions({ signal: ac.signal })).then(() => null, (e: unknown) => e);
      expect((aborted as DriverError).kind).toBe("cancelled");
      for (const h of held) await h.batches.return?.();
      expect((await drain(c, "select 4")).rows).toEqual([[4]]);
    } finally {
      await c.close();
    }
  });

  live("dials the checked address, not the host name (no second DNS lookup)", async () => {
    const c = await mysqlDriver.connect({ ...f!.config, host: "db.does-not-resolve.invalid" }, [{ ...local, hostname: "db.does-not-resolve.invalid" }]);
    try {
      expect((await c.test()).serverVersion).toMatch(/MariaDB|\d+\.\d+/);
    } finally {
      await c.close();
    }
  });

  live("ssl mode prefer falls back to plain text when the server has no TLS; require says why it fails", async () => {
    const c = await mysqlDriver.connect({ ...f!.config, ssl: { mode: "require" } }, [local]);
    try {
      const have = await conn.query("select @@have_ssl", [], queryOptions()).then(async (s) => (await s.batches.next()).value as unknown[][]);
      const err = await c.test().then(() => null, (e: unknown) => e);
      if (String(have?.[0]?.[0]) === "YES") expect(err).toBeNull();
      else {
        expect(err).toBeInstanceOf(DriverError);
        expect((err as DriverError).kind).toBe("connection");
        expect((err as DriverError).message).toMatch(/TLS/);
      }
    } finally {
      await c.close();
    }
  });

  live("helpful connection errors: unknown database, refused port, wrong password", async () => {
    const errOf = async (cfg: MysqlConfig, port = 3306) => {
      const c = await mysqlDriver.connect(cfg, [{ ...local, port }]);
      try {
        return await c.test().then(() => null, (e: unknown) => e as DriverError);
      } finally {
        await c.close();
      }
    };
    const db = await errOf({ ...f!.config, database: "dsb_no_such_db" });
    expect(db?.kind).toBe("connection");
    // The test user has no rights there, so MariaDB may answer "access denied to database" instead.
    expect(db?.message).toMatch(/Unknown database 'dsb_no_such_db'|may not use database 'dsb_no_such_db'/);
    const refused = await errOf(f!.config, 1);
    expect(refused?.message).toMatch(/Connection refused by 127\.0\.0\.1:1/);
    const pw = await errOf({ ...f!.config, password: "not-the-Password-123" });
    expect(pw?.message).toBe("Access denied for user 'dsb' — check the username and password");
  });

  live("introspection leaves other databases out and reads column comments", async () => {
    await drain(conn, "create table if not exists dsb_commented (id int primary key comment 'the key', v int) comment 'a table'", [], { readOnly: false });
    const tables = await conn.introspect();
    expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([f!.database]));
    const t = tables.find((x) => x.name === "dsb_commented")!;
    expect(t.comment).toBe("a table");
    expect(t.columns[0]).toMatchObject({ name: "id", primary_key: true, nullable: false, comment: "the key" });
    expect(t.columns[1]).toMatchObject({ name: "v", primary_key: false, nullable: true });
  });
});
