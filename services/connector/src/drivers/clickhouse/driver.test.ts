import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drain, driverSuite, queryOptions } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection } from "../types.ts";
import type { ClickhouseConfig } from "./config.ts";
import { clickhouseDriver, parseVersion, returnsRows, withFormat } from "./driver.ts";
import { parseServerError } from "./errors.ts";
import { clickhousePlaceholders, namedParams, quoteClickhouse, substituteParams } from "./params.ts";
import { clickhouseRow, clickhouseHeader, innerType, isNullableType, trailingException, unescapeTsv, wallClockToIso } from "./types.ts";

/** The server `.ci/clickhouse.sh` starts; CLICKHOUSE_URL may point elsewhere (http, default user). */
const CH_URL = process.env.CLICKHOUSE_URL ?? "http://127.0.0.1:8123";
// The time in the name lets a later run drop databases a killed run left behind.
const DB = `dsb_ch_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
const STALE_MS = 60 * 60 * 1000;

/** Plain HTTP to the server for fixtures, independent of the driver under test. */
async function admin(sql: string): Promise<string> {
  const res = await fetch(`${CH_URL}/`, { method: "POST", body: sql, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(text);
  return text;
}

let available: Promise<string | null> | null = null;
/** null when the server answers, else why not. */
const unavailable = () =>
  (available ??= fetch(`${CH_URL}/ping`, { signal: AbortSignal.timeout(2000) }).then(
    async (r) => {
      if (!r.ok) return `ClickHouse at ${CH_URL} answered ${r.status}`;
      for (const name of (await admin("select name from system.databases where startsWith(name, 'dsb_ch_')")).split("\n").filter(Boolean)) {
        const born = parseInt(/^dsb_ch_([0-9a-z]+)_/.exec(name)?.[1] ?? "", 36);
        if (!Number.isFinite(born) || Date.now() - born > STALE_MS) await admin(`DROP DATABASE IF EXISTS ${name}`).catch(() => undefined);
      }
      await admin(`CREATE DATABASE IF NOT EXISTS ${DB}`);
      return null;
    },
    () => `no ClickHouse at ${CH_URL} (run .ci/clickhouse.sh)`,
  ));

const url = new URL(CH_URL);
const baseConfig = (): ClickhouseConfig => ({
  type: "clickhouse", host: url.hostname, port: Number(url.port || 8123), database: DB, username: "default", password: "",
  protocol: "http", allow_writes: true,
});
const target = () => ({ address: url.hostname, hostname: url.hostname, port: Number(url.port || 8123) });

driverSuite<ClickhouseConfig>({
  type: "clickhouse",
  driver: clickhouseDriver,
  config: async () => {
    const why = await unavailable();
    return why ? { skip: why } : baseConfig();
  },
  setupSql: [
    "drop table if exists dsb_suite_view",
    "drop table if exists dsb_suite_items",
    // DateTime('UTC') so the literal means the same instant whatever the server's time zone.
    "create table dsb_suite_items (id Int32, name String, amount Nullable(Decimal(12, 2)), big Nullable(Int64), created_at Nullable(DateTime('UTC')), flag Nullable(UInt8)) engine = MergeTree order by id",
    "insert into dsb_suite_items values (1,'alpha',10.50,9007199254740993,'2024-01-02 03:04:05',1),(2,'beta',NULL,2,'2024-02-03 04:05:06',0),(3,'gamma',7.25,3,NULL,NULL)",
    "create view dsb_suite_view as select id, name from dsb_suite_items",
  ],
  table: `${DB}.dsb_suite_items`,
  placeholder: (n, kind) => `{p${n}:${kind === "int" ? "Int64" : "String"}}`,
  // sleep() stops at 3 s and ignores cancellation; counting is long and checks for KILL between blocks.
  // (system.numbers, not numbers(): readonly=1 forbids table functions, url() and remote() among them.)
  sleepSql: (s) => `select count() from (select number from system.numbers limit ${s * 1_000_000_000})`,
  runningQueries: async (marker) =>
    Number((await admin(`select count() from system.processes where query like ${quoteClickhouse(`%${marker}%`)} and query not like '%system.processes%'`)).trim()),
  writeSql: `insert into ${DB}.dsb_suite_items (id, name) values (99, 'written')`,
  teardownSql: ["drop table if exists dsb_suite_view", `drop table if exists ${DB}.dsb_suite_items`],
  cleanup: async () => void (await admin(`DROP DATABASE IF EXISTS ${DB}`).catch(() => undefined)),
});

describe("clickhouse parameters", () => {
  it("finds {name:Type} placeholders outside quotes and comments", () => {
    const sql = "select '{p9:String}', {p1:Int64}, `{x:UInt8}` -- {p8:String}\n, {p2:DateTime('UTC')} /* {p7:Int8} */, {not a placeholder}";
    expect(clickhousePlaceholders(sql).map((p) => [p.name, p.type])).toEqual([["p1", "Int64"], ["p2", "DateTime('UTC')"]]);
  });

  it("substitutes escaped, typed literals for servers without query parameters", () => {
    expect(substituteParams("select {p1:String}, {p2:Int64}, {p1:String}", ["it's \\ {p2:Int64}", 5])).toBe(
      "select CAST('it\\'s \\\\ {p2:Int64}' AS String), CAST(5 AS Int64), CAST('it\\'s \\\\ {p2:Int64}' AS String)");
    expect(substituteParams("select {p1:Int64}", [null])).toBe("select CAST(NULL AS Nullable(Int64))");
    expect(substituteParams("select {p1:Array(String)}", [["a", "b"]])).toBe("select CAST(['a', 'b'] AS Array(String))");
  });

  it("checks names and counts with sentences", () => {
    expect(() => namedParams("select {p2:Int64}", [1])).toThrow("uses {p2:Int64} but only 1 parameter was given");
    expect(() => namedParams("select {id:Int64}", [1])).toThrow("must be named p1, p2");
    expect(() => namedParams("select {p1:Int64}", [1, 2])).toThrow("2 parameters were given but the query uses 1");
    expect(() => substituteParams("select {p1:Int64}", [{ a: 1 }])).toThrow(DriverError);
  });
});

describe("clickhouse text and type helpers", () => {
  it("unescapes TSV and maps values by type", () => {
    expect(unescapeTsv("a\\tb\\nc\\\\d\\'e")).toBe("a\tb\nc\\d'e");
    const h = clickhouseHeader("u\tdec\td\tdt\tn\tf\ts\tb", "UInt64\tDecimal(9, 3)\tDate\tDateTime\tNullable(Int32)\tFloat64\tString\tBool", "UTC");
    expect(clickhouseRow("18446744073709551615\t1.500\t2024-01-02\t2024-01-02 03:04:05\t\\N\tnan\tx\\ty\ttrue", h.convert)).toEqual([
      "18446744073709551615", "1.500", "2024-01-02", "2024-01-02T03:04:05Z", null, "nan", "x\ty", true,
    ]);
  });

  it("turns wall-clock DateTime in a server or column time zone into UTC", () => {
    expect(wallClockToIso("2024-01-02 03:04:05", "Asia/Tokyo")).toBe("2024-01-01T18:04:05Z");
    expect(wallClockToIso("2024-07-01 12:00:00.250", "Europe/Berlin")).toBe("2024-07-01T10:00:00.250Z");
    expect(wallClockToIso("2024-01-01 12:00:00", "Europe/Berlin")).toBe("2024-01-01T11:00:00Z");
    expect(wallClockToIso("garbage", "UTC")).toBe("garbage");
  });

  it("reads nullability and server error texts of old and new servers", () => {
    expect(isNullableType("Nullable(Decimal(12, 2))")).toBe(true);
    expect(isNullableType("LowCardinality(Nullable(String))")).toBe(true);
    expect(isNullableType("Array(Nullable(String))")).toBe(false);
    expect(innerType("LowCardinality(Nullable(String))")).toBe("String");
    expect(parseServerError("Code: 193, e.displayText() = DB::Exception: Wrong password for user default, e.what() = DB::Exception")).toEqual({ code: 193, message: "Wrong password for user default" });
    expect(parseServerError("Code: 60. DB::Exception: Table default.x does not exist. (UNKNOWN_TABLE) (version 24.3.1.1)")).toEqual({ code: 60, message: "Table default.x does not exist." });
    expect(trailingException("Code: 395, e.displayText() = DB::Exception: boom", 2)).not.toBeNull();
    expect(trailingException("Code: 1, not\tan error", 2)).toBeNull();
  });

  it("decides which statements return rows and appends the format", () => {
    expect(returnsRows("/* m */ -- c\n (select 1)")).toBe(true);
    expect(returnsRows("with 1 as x select x")).toBe(true);
    expect(returnsRows("insert into t values (1)")).toBe(false);
    expect(withFormat("select 1;;  ")).toBe("select 1\nFORMAT TabSeparatedWithNamesAndTypes");
    expect(() => withFormat("select 1 format JSON")).toThrow(DriverError);
    expect(parseVersion("18.16.1")).toEqual([18, 16]);
  });
});


describe("clickhouse driver against the server", () => {
  let conn: Connection;
  let why: string | null = null;
  beforeAll(async () => {
    why = await unavailable();
    if (why) return console.log(`SKIPPED clickhouse driver tests: ${why}`);
    await admin(`CREATE DATABASE IF NOT EXISTS ${DB}`); // the suite's cleanup dropped it
    conn = await clickhouseDriver.connect(baseConfig(), [target()]);
  });
  afterAll(async () => {
    await conn?.close();
    if (!why) await admin(`DROP DATABASE IF EXISTS ${DB}`).catch(() => undefined);
  });
  const live = (name: string, fn: () => Promise<void>) => it(name, async (ctx) => {
    if (why) {
      console.log(`SKIPPED ${name}: ${why}`);
      ctx.skip();
      return;
    }
    await fn();
  });

  live("maps ClickHouse types: wide integers and decimals as strings, DateTime to UTC ISO, NULL, arrays as text", async () => {
    const r = await drain(conn,
      "select toUInt64(18446744073709551615) as u, toDecimal64(1.5, 3) as d, toDate('2024-01-02') as day, toDateTime('2024-01-02 03:04:05', 'Asia/Tokyo') as tokyo, " +
      "'a\\tb\\nc' as s, [1, 2] as arr, toNullable(toInt32(7)) as n, CAST(NULL AS Nullable(String)) as nul, toFloat64(0.5) as f");
    expect(r.columns.map((c) => c.type)).toEqual(["UInt64", "Decimal(18, 3)", "Date", "DateTime('Asia/Tokyo')", "String", "Array(UInt8)", "Nullable(Int32)", "Nullable(String)", "Float64"]);
    expect(r.rows).toEqual([["18446744073709551615", "1.500", "2024-01-02", "2024-01-01T18:04:05Z", "a\tb\nc", "[1,2]", 7, null, 0.5]]);
  });

  live("binds hostile strings as data (client-side on 18.16, natively on newer servers)", async () => {
    const evil = "x' OR 1=1 -- \\' {p2:String}";
    const r = await drain(conn, "select {p1:String} as v, {p2:Int64} as n", [evil, 42]);
    expect(r.rows).toEqual([[evil, 42]]);
  });

  live("read-only refuses DDL, a query's own SETTINGS (so it cannot lift its timeout) and table functions such as url()", async () => {
    for (const sql of ["select * from url('http://169.254.169.254/latest/meta-data/', CSV, 'x String')", `create table ${DB}.ro_probe (x UInt8) engine = Memory`, "select 1 settings max_execution_time = 0", `drop database ${DB}`]) {
      const err = await drain(conn, sql).then(() => null, (e: unknown) => e);
      expect(err, sql).toBeInstanceOf(DriverError);
      expect((err as DriverError).kind).toBe("query");
    }
    expect((await admin(`exists table ${DB}.ro_probe`)).trim()).toBe("0");
  });

  live("writes run when allowed and return no columns", async () => {
    const w = await drain(conn, `create table if not exists ${DB}.w (x UInt8) engine = Memory`, [], { readOnly: false });
    expect({ columns: w.columns, rows: w.rows }).toEqual({ columns: [], rows: [] });
    await drain(conn, `insert into ${DB}.w values (1), (2)`, [], { readOnly: false });
    expect((await drain(conn, `select sum(x) from ${DB}.w`)).rows).toEqual([[3]]);
  });

  live("an exception after rows were sent (HTTP 200 already out) fails the stream instead of becoming a row", async () => {
    const s = await conn.query("select throwIf(number = 2900000), number from system.numbers limit 3000000", [], queryOptions({ batchRows: 100_000 }));
    let err: unknown = null;
    let rows = 0;
    try {
      for (let r = await s.batches.next(); !r.done; r = await s.batches.next()) rows += r.value.length;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("query");
    expect((err as DriverError).message).toMatch(/throwIf|non zero/);
    expect(rows).toBeLessThan(2_900_001);
  });

  live("introspection reads engines, primary keys, nullability and part row counts; views are views", async () => {
    await drain(conn, `create table if not exists ${DB}.intro (k UInt32, v Nullable(String) comment 'the value') engine = MergeTree order by k`, [], { readOnly: false });
    await drain(conn, `insert into ${DB}.intro values (1, 'a'), (2, NULL)`, [], { readOnly: false });
    const tables = await conn.introspect();
    expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([DB]));
    const t = tables.find((x) => x.name === "intro")!;
    expect(t).toMatchObject({ kind: "table", rowCount: 2 });
    await drain(conn, `create table if not exists ${DB}.intro_empty (k UInt32) engine = MergeTree order by k`, [], { readOnly: false });
    expect((await conn.introspect()).find((x) => x.name === "intro_empty")).toMatchObject({ kind: "table", rowCount: 0 });
    expect(t.columns).toEqual([
      { name: "k", type: "UInt32", nullable: false, primary_key: true },
      { name: "v", type: "Nullable(String)", nullable: true, primary_key: false, comment: "the value" },
    ]);
  });

  live("dials the checked address, not the host name (no second DNS lookup)", async () => {
    const c = await clickhouseDriver.connect({ ...baseConfig(), host: "ch.does-not-resolve.invalid" }, [{ ...target(), hostname: "ch.does-not-resolve.invalid" }]);
    try {
      expect((await c.test()).serverVersion).toMatch(/^\d+\.\d+/);
    } finally {
      await c.close();
    }
  });

  live("helpful connection errors: refused port, unknown database, wrong password", async () => {
    const errOf = async (cfg: ClickhouseConfig, port = target().port) => {
      const c = await clickhouseDriver.connect(cfg, [{ ...target(), port }]);
      try {
        return await c.test().then(() => null, (e: unknown) => e as DriverError);
      } finally {
        await c.close();
      }
    };
    const refused = await errOf(baseConfig(), 1);
    expect(refused?.kind).toBe("connection");
    expect(refused?.message).toMatch(/Connection refused by 127\.0\.0\.1:1/);
    const db = await errOf({ ...baseConfig(), database: "dsb_no_such_db" });
    expect(db?.kind).toBe("connection");
    expect(db?.message).toBe("Unknown database 'dsb_no_such_db' — check the database name");
    const pw = await errOf({ ...baseConfig(), password: "not-the-Password-123" });
    expect(pw?.kind).toBe("connection");
    expect(pw?.message).toBe("Access denied for user 'default' — check the username and password");
  });
});

/** A self-signed certificate for `name` (openssl CLI), or null when openssl is missing. */
function selfSigned(name: string): { cert: string; key: string } | null {
  const dir = mkdtempSync(join(tmpdir(), "dsb-ch-tls-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${name}`,
      "-addext", `subjectAltName=DNS:${name}`, "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("clickhouse over https (TLS terminator in front of the local server)", () => {
  const NAME = "ch.tls-test.invalid";
  let tls: TlsServer | null = null;
  let port = 0;
  let pem: { cert: string; key: string } | null = null;
  let why: string | null = null;
  beforeAll(async () => {
    why = await unavailable();
    pem = why ? null : selfSigned(NAME);
    if (!why && !pem) why = "openssl is not installed";
    if (why) return console.log(`SKIPPED clickhouse https tests: ${why}`);
    tls = createTlsServer({ cert: pem!.cert, key: pem!.key }, (s) => {
      const up = netConnect(target().port, url.hostname);
      s.pipe(up).pipe(s);
      s.on("error", () => up.destroy());
      up.on("error", () => s.destroy());
    });
    await new Promise<void>((r) => tls!.listen(0, "127.0.0.1", () => r()));
    port = (tls.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => (tls ? tls.close(() => r()) : r()));
  });
  // The default database: the scratch one is dropped by the describe above.
  const cfg = (ssl: ClickhouseConfig["ssl"]): ClickhouseConfig => ({ ...baseConfig(), database: "default", host: NAME, port, protocol: "https", ssl });
  const tryTest = async (c: ClickhouseConfig) => {
    const conn = await clickhouseDriver.connect(c, [{ address: "127.0.0.1", hostname: NAME, port }]);
    try {
      return await conn.test();
    } finally {
      await conn.close();
    }
  };
  const live = (name: string, fn: () => Promise<void>) => it(name, async (ctx) => {
    if (why) {
      console.log(`SKIPPED ${name}: ${why}`);
      ctx.skip();
      return;
    }
    await fn();
  });

  live("verify-full with the CA verifies the typed host name while dialing the checked address", async () => {
    expect((await tryTest(cfg({ mode: "verify-full", ca: pem!.cert }))).serverVersion).toMatch(/^\d+\./);
  });

  live("verification fails without the CA (with a TLS hint), and require skips it", async () => {
    const err = await tryTest(cfg({ mode: "verify-full" })).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("connection");
    expect((err as DriverError).message).toMatch(/TLS/);
    expect((await tryTest(cfg({ mode: "require" }))).serverVersion).toMatch(/^\d+\./);
  });

  live("a certificate for another name fails verify-full", async () => {
    const err = await clickhouseDriver.connect({ ...cfg({ mode: "verify-full", ca: pem!.cert }), host: "other.invalid" }, [{ address: "127.0.0.1", hostname: "other.invalid", port }])
      .then((c) => c.test().finally(() => c.close()))
      .then(() => null, (e: unknown) => e);
    expect((err as DriverError).kind).toBe("connection");
    expect((err as DriverError).message).toMatch(/TLS/);
  });
});

describe("clickhouse users with a password and with a readonly=1 profile (made by .ci/clickhouse.sh)", () => {
  const ro = (): ClickhouseConfig => ({ ...baseConfig(), database: "default", username: "dsb_ro", password: "dsb-ro-Pw-1" });
  let why: string | null = null;
  beforeAll(async () => {
    why = await unavailable();
    if (!why) {
      const r = await fetch(`${CH_URL}/`, { method: "POST", body: "select 1", headers: { authorization: `Basic ${Buffer.from("dsb_ro:dsb-ro-Pw-1").toString("base64")}` } });
      if (!r.ok) why = "user dsb_ro is missing (run .ci/clickhouse.sh)";
    }
    if (why) console.log(`SKIPPED clickhouse readonly-profile tests: ${why}`);
  });
  const live = (name: string, fn: () => Promise<void>) => it(name, async (ctx) => {
    if (why) {
      console.log(`SKIPPED ${name}: ${why}`);
      ctx.skip();
      return;
    }
    await fn();
  });

  live("a readonly-profile user tests, introspects and queries without sending settings; writes are refused by the server", async () => {
    const c = await clickhouseDriver.connect(ro(), [target()]);
    try {
      expect((await c.test()).serverVersion).toMatch(/^\d+\./);
      await c.introspect();
      expect((await drain(c, "select {p1:Int64} + 1", [41])).rows).toEqual([[42]]);
      const err = await drain(c, "create table default.dsb_ro_probe (x UInt8) engine = Memory", [], { readOnly: false }).then(() => null, (e: unknown) => e);
      expect((err as DriverError).kind).toBe("query");
    } finally {
      await c.close();
    }
  });

  live("the timeout still stops a readonly-profile user's query (driver timer, KILL QUERY, HTTP abort)", async () => {
    const c = await clickhouseDriver.connect(ro(), [target()]);
    try {
      const marker = `dsb_ro_timeout_${Math.random().toString(36).slice(2, 8)}`;
      const err = await drain(c, `/* ${marker} */ select count() from (select number from system.numbers limit 30000000000)`, [], { timeoutMs: 800 })
        .then(() => null, (e: unknown) => e);
      expect((err as DriverError).kind).toBe("timeout");
      const running = async () => Number((await admin(`select count() from system.processes where query like '%${marker}%' and query not like '%system.processes%'`)).trim());
      let n = await running();
      for (let i = 0; i < 50 && n > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        n = await running();
      }
      expect(n).toBe(0);
    } finally {
      await c.close();
    }
  });

  live("a wrong password for a password user says access denied without the password", async () => {
    const c = await clickhouseDriver.connect({ ...baseConfig(), database: "default", username: "dsb_rw", password: "dsb-rw-WRONG-9" }, [target()]);
    try {
      const err = await c.test().then(() => null, (e: unknown) => e as DriverError);
      expect(err?.kind).toBe("connection");
      expect(err?.message).toBe("Access denied for user 'dsb_rw' — check the username and password");
    } finally {
      await c.close();
    }
  });
});
