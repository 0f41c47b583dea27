import { describe, expect, it } from "vitest";
import { drain } from "../../../../../test/support/drivers/suite.ts";
import { DriverError } from "../types.ts";
import type { ClickhouseConfig } from "./config.ts";
import { clickhouseDriver } from "./driver.ts";
import { clickhouseReadOnlyViolation } from "./read-only.ts";

describe("ClickHouse read-only guard (tokens)", () => {
  it.each([
    "select * from system.tables where name = 'file'",
    "SELECT count() FROM numbers(10)",
    "with 1 as x select x",
    "show tables",
    "describe table t",
    "exists table t",
    "explain select 1",
    "select 'file(''/etc/passwd'')', file_name, url_path from t -- ; system shutdown",
    "select URLHierarchy('http://x/y'), domain('http://x')",
    "(select 1)",
  ])("lets a read through: %s", (sql) => {
    expect(clickhouseReadOnlyViolation(sql)).toBeNull();
  });

  it.each([
    ["select * from file('x.csv', CSV, 'a String')", /file\(\) reads or writes files/],
    ["select * from FILE ('/etc/passwd', 'LineAsString', 'l String')", /file\(\)/],
    ["select * from \"file\"('x')", /file\(\)/],
    ["select * from `url`('http://169.254.169.254/', CSV, 'x String')", /url\(\)/],
    ["select * from url('http://10.0.0.1/', CSV, 'x String')", /url\(\)/],
    ["select * from remote('10.0.0.1:9000', system.one)", /remote\(\) connects to other servers/],
    ["select * from remoteSecure('h', db.t)", /remotesecure\(\)/],
    ["select * from s3('https://b/k', 'CSV')", /s3\(\)/],
    ["select * from mysql('h:3306', 'db', 't', 'u', 'p')", /mysql\(\)/],
    ["select * from postgresql('h:5432', 'db', 't', 'u', 'p')", /postgresql\(\)/],
    ["select * from executable('x.sh', TSV, 'a String')", /executable\(\) runs a program/],
    ["select * from (select * from hdfs('hdfs://x', 'TSV', 'a String'))", /hdfs\(\)/],
    ["select * from icebergS3('https://b/k')", /icebergs3\(\)/],
    ["select * from cluster('c', system.one)", /cluster\(\)/],
    ["select 1 into outfile '/tmp/x'", /INTO OUTFILE/],
    ["SYSTEM SHUTDOWN", /SYSTEM statements change the server's state/],
    ["system kill", /SYSTEM/],
    ["/* x */ system drop dns cache", /SYSTEM/],
    ["kill query where 1", /KILL stops other queries/],
    ["set readonly = 0", /SET changes settings/],
    ["insert into t values (1)", /INSERT is not a query/],
    ["select 1; system shutdown", /several statements/],
    ["select 1 --\n; system shutdown", /several statements/],
    // Text that is a string in one server version and code in another is judged as code.
    ["select 1 # '\n, file('x') -- '", /file\(\)/], // # comments
    ["select $$ ' $$, file('x') -- '", /file\(\)/], // $$ strings
    ["select 1 /* /* */ ' */ , file('x') -- '", /file\(\)/], // nested comments
    ["select 1 /* /* */ , file('x') */", /file\(\)/], // comments that do not nest
  ] as [string, RegExp][])("refuses %s", (sql, why) => {
    expect(clickhouseReadOnlyViolation(sql)).toMatch(why);
  });
});

const CH_URL = new URL(process.env.CLICKHOUSE_URL ?? "http://127.0.0.1:8123");
const up = () => fetch(new URL("/ping", CH_URL), { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);

describe("ClickHouse read-only mode against the server", async () => {
  const available = await up();
  if (!available) console.log(`SKIPPED clickhouse read-only: no ClickHouse at ${CH_URL}`);
  it.runIf(available)("refuses file(), url(), remote() and SYSTEM SHUTDOWN before sending them: the guard answers, and the server is still up", async () => {
    const config: ClickhouseConfig = {
      type: "clickhouse", host: CH_URL.hostname, port: Number(CH_URL.port || 8123), database: "default", username: "default", password: "",
      protocol: "http", allow_writes: false,
    };
    const conn = await clickhouseDriver.connect(config, [{ address: CH_URL.hostname, hostname: CH_URL.hostname, port: config.port! }]);
    try {
      for (const sql of [
        "select * from file('dsb.csv', CSV, 'a String')",
        "select * from url('http://127.0.0.1:8123/ping', CSV, 'x String')",
        "select * from remote('127.0.0.1:9000', system.one)",
        "SYSTEM SHUTDOWN",
      ]) {
        const err = await drain(conn, sql).then(() => null, (e: unknown) => e);
        expect(err, sql).toBeInstanceOf(DriverError);
        // The guard's sentence, not the server's "Code: 164 … readonly mode": nothing was sent.
        expect((err as DriverError).message, sql).toMatch(/^Read-only query refused: /);
      }
      expect(await up()).toBe(true);
      const r = await drain(conn, "select count() from system.one");
      expect(Number(r.rows[0]![0])).toBe(1);
    } finally {
      await conn.close();
    }
  });
});
