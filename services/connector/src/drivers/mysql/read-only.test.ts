import { existsSync, rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drain } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection, type QueryOptions } from "../types.ts";
import type { MysqlConfig } from "./config.ts";
import { mysqlDriver } from "./driver.ts";
import { mysqlReadOnlyViolation } from "./read-only.ts";
import { mysqlFixture, type MysqlFixture } from "../../../../../test/support/drivers/mysql.ts";

describe("MySQL/MariaDB read-only guard (tokens)", () => {
  it.each([
    "select * from orders where region = _utf8mb4 X'4555'",
    "SELECT 1;",
    "(select 1) union (select 2)",
    "with x as (select 1) select * from x",
    "show tables",
    "describe orders",
    "explain select 1",
    "table orders",
    "select 'load_file(''/etc/passwd'')', \"into outfile\" /* into outfile */ -- into dumpfile\n",
    "select @@session.sql_mode, @x, last_insert_id()",
    "select replace(name, 'a', 'b'), `update` from t for update",
    "select 1 # ; set @x = 1",
    "",
  ])("lets a read through: %s", (sql) => {
    expect(mysqlReadOnlyViolation(sql)).toBeNull();
  });

  it.each([
    ["select load_file('/etc/passwd')", /LOAD_FILE\(\) reads files/],
    ["select LOAD_FILE ('/etc/passwd')", /LOAD_FILE/],
    ["select `load_file`('/etc/passwd')", /LOAD_FILE/],
    ["select \"load_file\"('/etc/passwd')", /LOAD_FILE/],
    ["/*!50000 select load_file('/etc/passwd')*/", /LOAD_FILE/],
    ["select 1 /*!50000 , load_file('/etc/passwd') */", /LOAD_FILE/],
    ["select 1 /*M!100000 , load_file('/etc/passwd') */", /LOAD_FILE/],
    ["select * from (select load_file('/etc/passwd') as f) x", /LOAD_FILE/],
    ["select 1 into outfile '/tmp/x'", /INTO OUTFILE writes a file/],
    ["select 1 /*!50000 INTO\n DUMPFILE '/tmp/x' */", /INTO DUMPFILE writes a file/],
    ["select 'x\\' into outfile '/tmp/y' -- '", /INTO OUTFILE/], // NO_BACKSLASH_ESCAPES reading
    // Text that is a string in one sql_mode and code in another is judged as code.
    ["select 'x\\'' , \"a\\\" , load_file('y') -- \"", /LOAD_FILE/], // ANSI_QUOTES: "a\" is a name, the call is code
    ["select 1 --\u0001 '\n, load_file('/etc/passwd') -- '", /LOAD_FILE/], // a control character after -- starts a comment
    ["select 1 into @x", /INTO sets variables/],
    ["select @x := 1", /:= assigns a user variable/],
    ["select @x:=1", /:= assigns a user variable/],
    ["set @@session.sql_mode = 'ANSI_QUOTES'", /SET changes session state/],
    ["SET SESSION sql_mode = ''", /SET changes session state/],
    ["/*!40101 SET NAMES latin1 */", /SET changes session state/],
    ["load data infile '/etc/passwd' into table t", /LOAD DATA/],
    ["do load_file('/etc/passwd')", /DO evaluates/],
    ["select get_lock('x', 0)", /GET_LOCK\(\) changes session state/],
    ["select last_insert_id(42)", /LAST_INSERT_ID\(expr\)/],
    ["select sys_exec('id')", /SYS_EXEC\(\) runs a program/],
    ["select 1; drop table t", /several statements/],
    ["select 1 --x\n; drop table t", /several statements/], // --x is not a comment in MySQL
    ["insert into t values (1)", /INSERT is not a query/],
    ["handler t open", /HANDLER is not a query/],
    ["shutdown", /SHUTDOWN is not a query/],
  ] as [string, RegExp][])("refuses %s", (sql, why) => {
    expect(mysqlReadOnlyViolation(sql)).toMatch(why);
  });
});

/** Capped and streamed reads go the same way in this driver; both are exercised. */
const MODES: Partial<QueryOptions>[] = [{}, { maxRows: 10, batchRows: 10 }];

describe("MySQL/MariaDB read-only mode on a login with FILE and SUPER", () => {
  const tag = Math.random().toString(36).slice(2, 8);
  const user = `dsb_ro_${tag}`;
  const password = `ro-${tag}-Pw`;
  const marker = `/tmp/dsb-readonly-mysql-${tag}`;
  let f: MysqlFixture | null = null;
  let conn: Connection;
  let config: MysqlConfig;
  let skip = "";

  beforeAll(async () => {
    const r = await mysqlFixture();
    if ("skip" in r) {
      skip = r.skip;
      return;
    }
    f = r;
    await f.root(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
    await f.root(`GRANT FILE, SUPER ON *.* TO '${user}'@'127.0.0.1'`);
    await f.root(`GRANT ALL PRIVILEGES ON \`${f.database}\`.* TO '${user}'@'127.0.0.1'`);
    config = { ...f.config, username: user, password, ssl: { mode: "disable" } };
    conn = await mysqlDriver.connect(config, [{ address: "127.0.0.1", hostname: "127.0.0.1", port: 3306 }]);
    await drain(conn, "create table orders (id int primary key)", [], { readOnly: false });
    await drain(conn, "insert into orders values (1), (2)", [], { readOnly: false });
  });
  afterAll(async () => {
    await conn?.close();
    rmSync(marker, { force: true });
    await f?.root(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`).catch(() => undefined);
    await f?.drop();
  });

  const live = (name: string, fn: () => Promise<void>) => it(name, async (ctx) => {
    if (!f) {
      console.log(`SKIPPED ${name}: ${skip}`);
      ctx.skip();
      return;
    }
    await fn();
  });

  const refused = async (sql: string, mode: Partial<QueryOptions>) => {
    const err = await drain(conn, sql, [], { ...mode, readOnly: true }).then(() => null, (e: unknown) => e);
    expect(err, sql).toBeInstanceOf(DriverError);
    expect((err as DriverError).message, sql).toMatch(/^Read-only query refused: /);
  };

  live("control: this login can read server files in read-write mode", async () => {
    const r = await drain(conn, "select load_file('/etc/hostname') is not null", [], { readOnly: false });
    expect(Number(r.rows[0]![0])).toBe(1);
  });

  live("refuses file reads and writes, executable comments included, on every read path; no file appears", async () => {
    for (const mode of MODES) {
      for (const sql of [
        "select load_file('/etc/hostname')",
        "/*!50000 select load_file('/etc/hostname')*/",
        "select `load_file`('/etc/hostname')",
        `select 1 into outfile '${marker}'`,
        `select 1 /*!50000 into dumpfile '${marker}' */`,
        "set @@session.sql_mode = 'ANSI_QUOTES'",
        "select @leak := 1",
        "select 1; select 2",
      ]) await refused(sql, mode);
    }
    expect(existsSync(marker)).toBe(false);
  });

  live("session variables and user variables a read-write query sets do not reach the next users of the pool", async () => {
    for (let i = 0; i < 15; i++) {
      await drain(conn, "set @@session.sql_mode = 'ANSI_QUOTES'", [], { readOnly: false });
      await drain(conn, "set @leak = 'from another user'", [], { readOnly: false });
    }
    const seen = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      drain(conn, "select @@session.sql_mode, @leak", [], MODES[i % 2]).then((r) => r.rows[0]!)));
    for (const [mode, leak] of seen) {
      expect(String(mode)).not.toContain("ANSI_QUOTES");
      expect(leak).toBeNull();
    }
  });

  live("test() warns about SUPER and FILE, and not about a login with grants on its database only", async () => {
    const { warnings } = await conn.test();
    expect(warnings?.map((w) => w.code)).toEqual(["SUPERUSER_LOGIN", "SERVER_FILE_ACCESS"]);
    expect(warnings![1]!.message).toMatch(/FILE privilege.*REVOKE FILE/);
    const plain = await mysqlDriver.connect(f!.config, [{ address: "127.0.0.1", hostname: "127.0.0.1", port: 3306 }]);
    try {
      expect((await plain.test()).warnings).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});
