import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { MssqlConfigSchema } from "@dsb/contracts";
import { drain, driverSuite, queryOptions } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection } from "../types.ts";
import { mssqlSettings, parseMssqlConnectionString, tediousOptions, type MssqlConfig } from "./config.ts";
import { createMssqlDriver, mssqlDriver } from "./driver.ts";
import { col, FakeTds, type FakeReply } from "../../../../../test/support/drivers/fake-tds.ts";
import { DEFAULT_POOL } from "../shared/session-pool.ts";
import { mssqlReadOnlyViolation, writeKeyword } from "./read-only.ts";

const cfg = (extra: Record<string, unknown> = {}): MssqlConfig =>
  MssqlConfigSchema.parse({ type: "mssql", host: "db.example.com", database: "sales", username: "reader", password: "s3cret-pw", ...extra });
const target = { address: "10.0.0.5", hostname: "db.example.com", port: 1433 };


const ITEMS: FakeReply = {
  columns: [
    col("id", "IntN", { dataLength: 4 }), col("name", "NVarChar", { dataLength: 200 }), col("amount", "DecimalN", { precision: 12, scale: 2 }),
    col("big", "IntN", { dataLength: 8 }), col("created_at", "DateTime2", { scale: 7 }), col("flag", "BitN"),
    col("born", "Date"), col("blob", "VarBinary", { dataLength: 16 }),
  ],
  rows: [
    [1, "alpha", 10.5, "9007199254740993", new Date("2024-01-02T03:04:05Z"), true, new Date("2024-01-02T00:00:00Z"), Buffer.from("hi")],
    [2, "beta", null, "2", new Date("2024-02-03T04:05:06Z"), false, null, null],
  ],
};

/** A fake server answering the driver's own statements and scripted user SQL. */
function fakeServer(user: (sql: string) => FakeReply | undefined = () => undefined) {
  return new FakeTds((sql) => {
    const u = user(sql);
    if (u) return u;
    if (/^(BEGIN TRANSACTION|IF @@TRANCOUNT)/.test(sql)) return "empty";
    if (sql === "SELECT 1") return { columns: [col("", "IntN", { dataLength: 4 })], rows: [[1]] };
    if (sql.includes("@@VERSION")) return { columns: [col("version", "NVarChar")], rows: [["Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64) \n\tOct  8 2022\n"]] };
    if (sql.includes("dsb_items")) return ITEMS;
    throw new Error(`fake: unscripted SQL ${sql}`);
  });
}

describe("mssql config", () => {
  it("parses ADO.NET connection strings and mssql:// URLs", () => {
    expect(parseMssqlConnectionString("Server=tcp:sql.example.com,1444;Initial Catalog=db1;User ID=u1;Password=p;w;Encrypt=False")).toMatchObject({
      host: "sql.example.com", port: 1444, database: "db1", user: "u1", encrypt: false,
    });
    expect(parseMssqlConnectionString("Data Source=host\\SQLEXPRESS;Database=d")).toMatchObject({ host: "host", instanceName: "SQLEXPRESS", database: "d" });
    expect(parseMssqlConnectionString("mssql://sa:p%40ss@127.0.0.1:1500/master?encrypt=false&trustServerCertificate=true")).toEqual({
      host: "127.0.0.1", port: 1500, database: "master", user: "sa", password: "p@ss", encrypt: false, trustServerCertificate: true,
    });
  });

  it("targets the host (also inside connection_string) and dials the checked address with TLS name = host", () => {
    expect(mssqlDriver.targets(cfg())).toEqual([{ hostname: "db.example.com", port: 1433 }]);
    expect(mssqlDriver.targets(cfg({ host: undefined, connection_string: "Server=other.example.com,1555;Database=x" }))).toEqual([{ hostname: "other.example.com", port: 1555 }]);
    const t = tediousOptions(mssqlSettings(cfg({ ssl: { mode: "verify-full", ca: "PEM" } })), target);
    expect(t.server).toBe("10.0.0.5");
    expect(t.options).toMatchObject({ port: 1433, serverName: "db.example.com", encrypt: true, trustServerCertificate: false, database: "sales", cryptoCredentialsDetails: { ca: "PEM" } });
    expect(tediousOptions(mssqlSettings(cfg({ ssl: { mode: "disable" } })), target).options?.encrypt).toBe(false);
  });
});

describe("mssql read-only guard", () => {
  it("refuses reserved words that write and ignores them inside strings, comments and quoted names", () => {
    expect(writeKeyword("select * from t")).toBeNull();
    expect(writeKeyword("/* delete */ select 'drop table x', [update], \"insert\" from t -- truncate")).toBeNull();
    expect(writeKeyword("select 1; delete from t")).toBe("DELETE");
    expect(writeKeyword("select * into t2 from t")).toBe("INTO");
    expect(writeKeyword("COMMIT; select 1")).toBe("COMMIT");
    expect(writeKeyword("exec sp_who")).toBe("EXEC");
    expect(writeKeyword("/* a /* nested */ still comment insert */ select 1")).toBeNull();
  });
});

describe("mssql driver over a fake TDS client", () => {
  it("connect() dials nothing; test() logs in and returns the first line of @@VERSION", async () => {
    const fake = fakeServer();
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    expect(fake.opened).toBe(0);
    expect(await conn.test()).toEqual({ serverVersion: "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64)", warnings: [] });
    expect(fake.configs[0]?.server).toBe("10.0.0.5");
    await conn.close();
    await conn.close();
  });

  it("maps types per API.md, binds @p1 and wraps read-only queries in a transaction that is rolled back", async () => {
    const fake = fakeServer();
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const r = await drain(conn, "select * from dsb_items where id > @p1 and name <> @p2", [0, "zeta"]);
    expect(r.columns).toEqual([
      { name: "id", type: "INT" }, { name: "name", type: "NVARCHAR(100)" }, { name: "amount", type: "DECIMAL(12,2)" }, { name: "big", type: "BIGINT" },
      { name: "created_at", type: "DATETIME2" }, { name: "flag", type: "BIT" }, { name: "born", type: "DATE" }, { name: "blob", type: "VARBINARY(16)" },
    ]);
    expect(r.rows).toEqual([
      [1, "alpha", "10.50", "9007199254740993", "2024-01-02T03:04:05.000Z", true, "2024-01-02", Buffer.from("hi").toString("base64")],
      [2, "beta", null, 2, "2024-02-03T04:05:06.000Z", false, null, null],
    ]);
    const sqls = fake.log.map((l) => l.sql);
    expect(sqls).toEqual(["BEGIN TRANSACTION", "select * from dsb_items where id > @p1 and name <> @p2", "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"]);
    expect(fake.log[1]!.params).toEqual([{ name: "p1", value: 0 }, { name: "p2", value: "zeta" }]);
    expect(new Set(fake.log.map((l) => l.client)).size).toBe(1);
    await conn.close();
  });

  it("refuses a write under read-only before touching the server; allows it with readOnly false", async () => {
    const fake = fakeServer((sql) => (sql.startsWith("insert") ? "empty" : undefined));
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const err = await drain(conn, "insert into t values (1)").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("query");
    expect((err as DriverError).message).toMatch(/allow_writes/);
    expect(fake.log).toEqual([]);
    const ok = await drain(conn, "insert into t values (1)", [], { readOnly: false });
    expect(ok.columns).toEqual([]);
    expect(fake.log.map((l) => l.sql)).toEqual(["insert into t values (1)", "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"]);
    await conn.close();
  });

  it("yields batches of batchRows, pauses the TDS stream when the consumer lags, and return() cancels and reuses the connection", async () => {
    const many: FakeReply = { columns: [col("n", "IntN", { dataLength: 4 })], rows: Array.from({ length: 50 }, (_, i) => [i]) };
    const fake = fakeServer((sql) => (sql.includes("numbers") ? many : undefined));
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const all = await drain(conn, "select n from numbers", [], { batchRows: 7 });
    expect(all.batches.map((b) => b.length)).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
    expect(all.rows.map((r) => r[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));

    const s = await conn.query("select n from numbers", [], queryOptions({ batchRows: 2 }));
    await s.batches.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.pauses).toBeGreaterThan(0);
    await s.batches.return?.();
    expect(fake.cancels).toBe(1);
    expect(fake.log.at(-1)!.sql).toBe("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION");
    await conn.test();
    expect(fake.opened).toBe(1);
    await conn.close();
  });

  it("a query over its timeout is cancelled on the server (ATTENTION) and fails with kind timeout", async () => {
    const fake = fakeServer((sql) => (sql.includes("WAITFOR") ? "hang" : undefined));
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const err = await drain(conn, "WAITFOR DELAY '00:00:30'", [], { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("timeout");
    expect(fake.cancels).toBe(1);
    expect(fake.log.at(-1)!.sql).toMatch(/ROLLBACK/);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const err2 = await drain(conn, "WAITFOR DELAY '00:00:30'", [], { signal: ac.signal }).catch((e: unknown) => e);
    expect((err2 as DriverError).kind).toBe("cancelled");
    expect(fake.cancels).toBe(2);
    expect(fake.opened).toBe(1);
    await conn.close();
  });

  it("a query waiting for a busy pool's only session leaves when its signal fires, never sent, and the session serves the next", async () => {
    const fake = fakeServer((sql) => (sql.includes("WAITFOR") ? "hang" : undefined));
    const conn = await createMssqlDriver(fake.connect, { ...DEFAULT_POOL, max: 1 }).connect(cfg(), [target]);
    const holder = new AbortController();
    const held = drain(conn, "WAITFOR DELAY '00:00:30'", [], { signal: holder.signal }).catch((e: unknown) => e);
    const waiter = new AbortController();
    setTimeout(() => waiter.abort(), 30);
    const err = await drain(conn, "select * from dsb_items /* waiter */", [], { signal: waiter.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("cancelled");
    expect(fake.log.some((l) => l.sql.includes("waiter"))).toBe(false);
    holder.abort();
    expect(((await held) as DriverError).kind).toBe("cancelled");
    expect((await drain(conn, "select * from dsb_items")).rows).toHaveLength(2);
    expect(fake.opened).toBe(1);
    await conn.close();
  });

  it("maps a server error to kind query with the server's message", async () => {
    const fake = fakeServer((sql) => (sql.includes("nope") ? { error: { code: "EREQUEST", number: 208, message: "Invalid object name 'nope'." } } : undefined));
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const err = await drain(conn, "select * from nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err).toMatchObject({ kind: "query", message: "Invalid object name 'nope'." });
    await conn.close();
  });

  it("pools at most 15 connections and queues the rest", async () => {
    const fake = fakeServer((sql) => (sql.includes("slow") ? { columns: [col("x", "IntN", { dataLength: 4 })], rows: [[1]] } : undefined));
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const results = await Promise.all(Array.from({ length: 40 }, () => drain(conn, "select slow", [], { readOnly: false })));
    expect(results.every((r) => r.rows[0]![0] === 1)).toBe(true);
    expect(fake.opened).toBeLessThanOrEqual(15);
    await conn.close();
    // Idle connections above the 5 kept are closed on release; close() closes the rest.
    expect(fake.closed).toBe(fake.opened);
  });

  it("introspects in two set-based catalog queries: tables, views, columns, primary keys, comments, row counts", async () => {
    const fake = fakeServer((sql) => {
      if (sql.includes("FROM sys.columns")) {
        return {
          columns: [],
          rows: [
            ["dbo", "items", "id", "int", 4, 10, 0, false, 1, null],
            ["dbo", "items", "name", "nvarchar", 200, 0, 0, false, 0, "the name"],
            ["dbo", "items", "amount", "decimal", 9, 12, 2, true, 0, null],
            ["dbo", "items", "notes", "varchar", -1, 0, 0, true, 0, null],
            ["dbo", "items_view", "id", "int", 4, 10, 0, false, 0, null],
          ],
        };
      }
      if (sql.includes("sys.tables")) return { columns: [], rows: [["dbo", "items", "table", "Items sold", "42"], ["dbo", "items_view", "view", null, null]] };
      return undefined;
    });
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const tables = await conn.introspect();
    expect(fake.log.length).toBe(2);
    for (const name of ["sys.views", "sys.partitions", "sys.extended_properties", "sys.types", "sys.indexes", "sys.index_columns"]) {
      expect(fake.log.some((l) => l.sql.includes(name)), name).toBe(true);
    }
    expect(tables).toEqual([
      {
        schema: "dbo", name: "items", kind: "table", rowCount: 42, comment: "Items sold",
        columns: [
          { name: "id", type: "int", nullable: false, primary_key: true },
          { name: "name", type: "nvarchar(100)", nullable: false, primary_key: false, comment: "the name" },
          { name: "amount", type: "decimal(12,2)", nullable: true, primary_key: false },
          { name: "notes", type: "varchar(max)", nullable: true, primary_key: false },
        ],
      },
      { schema: "dbo", name: "items_view", kind: "view", rowCount: null, columns: [{ name: "id", type: "int", nullable: false, primary_key: false }] },
    ]);
    await conn.close();
  });

  it("maps a refused login to kind connection naming the user and never the password", async () => {
    const fake = fakeServer();
    fake.connectError = { code: "ELOGIN", message: "Login failed for user 'reader'." };
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const err = await conn.test().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("connection");
    expect((err as DriverError).message).toMatch(/rejected the login for user 'reader'.*password/);
    expect((err as DriverError).message).not.toContain("s3cret-pw");
    await conn.close();
  });
});

describe("mssql driver over real tedious", () => {
  it("fails with kind connection and a helpful message when nothing listens on the port", async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, "127.0.0.1", () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const conn = await mssqlDriver.connect(cfg({ host: "127.0.0.1", port, encrypt: false }), [{ address: "127.0.0.1", hostname: "127.0.0.1", port }]);
    const err = await conn.test().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("connection");
    expect((err as DriverError).message).toContain(`Connection refused by 127.0.0.1:${port}`);
    expect((err as DriverError).message).not.toContain("s3cret-pw");
    await conn.close();
  });
});

/** Live SQL Server, e.g. MSSQL_URL=mssql://sa:Passw0rd!@127.0.0.1:1433/master?encrypt=false */
driverSuite<MssqlConfig>({
  type: "mssql",
  async config() {
    const url = process.env.MSSQL_URL;
    if (!url) return { skip: "set MSSQL_URL" };
    return MssqlConfigSchema.parse({ type: "mssql", connection_string: url, allow_writes: true });
  },
  setupSql: [
    "IF OBJECT_ID('dbo.dsb_suite_view', 'V') IS NOT NULL DROP VIEW dbo.dsb_suite_view",
    "IF OBJECT_ID('dbo.dsb_suite_items', 'U') IS NOT NULL DROP TABLE dbo.dsb_suite_items",
    "CREATE TABLE dbo.dsb_suite_items (id int PRIMARY KEY, name varchar(100) NOT NULL, amount decimal(12,2), big bigint, created_at datetime2, flag bit)",
    "INSERT INTO dbo.dsb_suite_items VALUES (1,'alpha',10.50,9007199254740993,'2024-01-02 03:04:05',1),(2,'beta',NULL,2,'2024-02-03 04:05:06',0),(3,'gamma',7.25,3,NULL,NULL)",
    "CREATE VIEW dbo.dsb_suite_view AS SELECT id, name FROM dbo.dsb_suite_items",
  ],
  teardownSql: ["DROP VIEW IF EXISTS dbo.dsb_suite_view", "DROP TABLE IF EXISTS dbo.dsb_suite_items"],
  table: "dbo.dsb_suite_items",
  placeholder: (n) => `@p${n}`,
  sleepSql: (s) => `WAITFOR DELAY '00:00:${String(s).padStart(2, "0")}'`,
  writeSql: "DELETE FROM dbo.dsb_suite_items",
  badCredentials(config) {
    const secret = `wrong-${Math.random().toString(36).slice(2, 10)}`;
    const url = new URL(config.connection_string!);
    url.password = secret;
    return { config: { ...config, connection_string: url.toString() }, secret };
  },
});

describe("mssql read-only: programs, server files, procedures and session options", () => {
  it.each([
    "select * from t",
    "with x as (select 1 as a) select a from x",
    "declare @n int = 1; select @n",
    "select [sp_total], 'xp_cmdshell' from t -- set nocount on",
  ])("lets a read through: %s", (sql) => {
    expect(mssqlReadOnlyViolation(sql)).toBeNull();
  });

  it.each([
    ["xp_cmdshell 'whoami'", /XP_CMDSHELL is not a query \(a batch that starts with a name calls that procedure\)/],
    ["master..xp_cmdshell 'whoami'", /MASTER is not a query/],
    ["exec master.dbo.xp_cmdshell 'whoami'", /EXEC can write, run code/],
    ["select * from openrowset(bulk '/etc/passwd', single_clob) as f", /OPENROWSET/],
    ["select * from opendatasource('SQLNCLI', 'Data Source=x').db.dbo.t", /OPENDATASOURCE/],
    ["select * from openquery(linked, 'select 1')", /OPENQUERY/],
    ["bulk insert t from '/etc/passwd'", /BULK/],
    ["sp_configure 'xp_cmdshell', 1", /SP_CONFIGURE is not a query/],
    ["select 1; declare @o int; select sp_oacreate", /sp_oacreate is an extended or system procedure/],
    ["select * from sys.fn_xe_file_target_read_file('/x/*.xel', null, null, null)", /fn_xe_file_target_read_file\(\) reads files/],
    ["select * from fn_get_audit_file('/x/*', default, default)", /fn_get_audit_file/],
    ["set nocount on; select 1", /SET changes session options/],
    ["select 1; set language us_english", /SET changes session options/],
  ] as [string, RegExp][])("refuses %s", (sql, why) => {
    expect(mssqlReadOnlyViolation(sql)).toMatch(why);
  });

  it("test() warns about a sysadmin login and a bulkadmin one", async () => {
    for (const [roles, code] of [[[1, 1], "SUPERUSER_LOGIN"], [[0, 1], "SERVER_FILE_ACCESS"], [[0, 0], null]] as const) {
      const fake = fakeServer((sql) => (sql.includes("@@VERSION") ? { columns: [col("version", "NVarChar"), col("sa", "IntN"), col("bulk", "IntN")], rows: [["Microsoft SQL Server 2022", ...roles]] } : undefined));
      const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
      expect((await conn.test()).warnings?.map((w) => w.code)).toEqual(code ? [code] : []);
      await conn.close();
    }
  });

  it("refuses xp_cmdshell before the server sees it; a read-write batch resets its session before the next user, a read-only one needs no reset", async () => {
    const fake = fakeServer((sql) => (sql.startsWith("set") || sql.startsWith("insert") ? "empty" : undefined));
    const conn = await createMssqlDriver(fake.connect).connect(cfg(), [target]);
    const err = await drain(conn, "xp_cmdshell 'whoami'").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).message).toMatch(/^Read-only query refused: XP_CMDSHELL/);
    expect(fake.log).toEqual([]);
    await drain(conn, "select * from dsb_items");
    expect(fake.resets).toBe(0);
    await drain(conn, "set language us_english", [], { readOnly: false });
    expect(fake.resets).toBe(1);
    await conn.close();
  });
});
