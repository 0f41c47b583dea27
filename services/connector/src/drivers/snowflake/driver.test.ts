import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnowflakeConfigSchema } from "@dsb/contracts";
import { drain, driverSuite } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection } from "../types.ts";
import { snowflakeTarget, type SnowflakeConfig } from "./config.ts";
import { snowflakeDriver } from "./driver.ts";
import { readOnlyViolation } from "./read-only.ts";
import { startSnowflakeStandIn, type SnowflakeStandIn } from "../../../../../test/support/stand-ins/snowflake.ts";

const USER = "DSB_READER";
const PASSWORD = "correct-horse-battery";


const harness = {
  type: "snowflake" as const,
  table: "dsb_suite_items",
  placeholder: () => "?",
  sleepSql: (s: number) => `SELECT SYSTEM$WAIT(${s})`,
  writeSql: "DELETE FROM dsb_suite_items",
  setupSql: [
    "DROP VIEW IF EXISTS dsb_suite_view",
    "DROP TABLE IF EXISTS dsb_suite_items",
    "CREATE TABLE dsb_suite_items (id integer PRIMARY KEY, name varchar(100) NOT NULL, amount decimal(12,2), big bigint, created_at timestamp_ntz, flag boolean)",
    "INSERT INTO dsb_suite_items VALUES (1,'alpha',10.50,9007199254740993,'2024-01-02 03:04:05',true),(2,'beta',NULL,2,'2024-02-03 04:05:06',false),(3,'gamma',7.25,3,NULL,NULL)",
    "CREATE VIEW dsb_suite_view AS SELECT id, name FROM dsb_suite_items",
  ],
};

let standIn: SnowflakeStandIn | null = null;
async function standInConfig(): Promise<SnowflakeConfig> {
  standIn ??= await startSnowflakeStandIn({ user: USER, password: PASSWORD });
  return SnowflakeConfigSchema.parse({ type: "snowflake", account: "dsbtest", username: USER, password: PASSWORD, database: "DSB", access_url: standIn.url, allow_writes: true });
}

/** The shared suite through the real snowflake-sdk against the local REST stand-in. */
driverSuite<SnowflakeConfig>({ ...harness, config: standInConfig, cleanup: async () => { await standIn?.close(); standIn = null; } });

/** Live Snowflake when credentials are in the environment. */
driverSuite<SnowflakeConfig>({
  ...harness,
  async config() {
    const { SNOWFLAKE_ACCOUNT: account, SNOWFLAKE_USER: username, SNOWFLAKE_PASSWORD: password } = process.env;
    if (!account || !username || !password) return { skip: "set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD (and SNOWFLAKE_WAREHOUSE, SNOWFLAKE_DATABASE, SNOWFLAKE_SCHEMA)" };
    return SnowflakeConfigSchema.parse({
      type: "snowflake", account, username, password, warehouse: process.env.SNOWFLAKE_WAREHOUSE, database: process.env.SNOWFLAKE_DATABASE,
      schema: process.env.SNOWFLAKE_SCHEMA, role: process.env.SNOWFLAKE_ROLE, allow_writes: true,
    });
  },
});

describe("snowflake config and read-only check", () => {
  it("targets access_url's host when set, the account's snowflakecomputing.com host otherwise", () => {
    const base = { type: "snowflake", account: "myorg-acct_1", username: "u" };
    expect(snowflakeTarget(SnowflakeConfigSchema.parse(base))).toEqual({ hostname: "myorg-acct-1.snowflakecomputing.com", port: 443 });
    expect(snowflakeDriver.targets(SnowflakeConfigSchema.parse({ ...base, access_url: "http://127.0.0.1:8085" }))).toEqual([{ hostname: "127.0.0.1", port: 8085 }]);
  });

  it("lets queries through and refuses writes, also behind comments and WITH", () => {
    expect(readOnlyViolation("select 'delete' as x from t")).toBeNull();
    expect(readOnlyViolation("/* hi */ WITH a AS (select 1) select * from a")).toBeNull();
    expect(readOnlyViolation("show tables")).toBeNull();
    expect(readOnlyViolation("delete from t")).toMatch(/DELETE/);
    expect(readOnlyViolation("-- select\ninsert into t values (1)")).toMatch(/INSERT/);
    expect(readOnlyViolation("with a as (select 1) insert into t select * from a")).toMatch(/INSERT/);
    expect(readOnlyViolation("call my_proc()")).toMatch(/CALL/);
  });
});

describe("snowflake driver against the REST stand-in", () => {
  let own: SnowflakeStandIn;
  let conn: Connection;
  beforeAll(async () => {
    own = await startSnowflakeStandIn({ user: USER, password: PASSWORD });
    conn = await snowflakeDriver.connect(SnowflakeConfigSchema.parse({ type: "snowflake", account: "dsbtest", username: USER, password: PASSWORD, access_url: own.url, warehouse: "WH" }), []);
  });
  afterAll(async () => {
    await conn.close();
    await own.close();
  });

  it("test() logs in once, reports current_version(), and reuses the pooled session", async () => {
    expect(await conn.test()).toEqual({ serverVersion: "Snowflake 8.40.1" });
    await conn.test();
    expect(own.requests.filter((r) => r.endsWith("login-request")).length).toBe(1);
    expect(own.logins[0]).toMatchObject({ LOGIN_NAME: USER, ACCOUNT_NAME: "dsbtest" });
  });

  it("a read-write statement's session is not reused (ALTER SESSION, USE ROLE would outlive it); a read-only one's is", async () => {
    const logins = () => own.requests.filter((r) => r.endsWith("login-request")).length;
    await drain(conn, "select id from dsb_suite_items");
    const before = logins();
    await drain(conn, "select id from dsb_suite_items");
    expect(logins()).toBe(before);
    await drain(conn, "select id from dsb_suite_items", [], { readOnly: false });
    await drain(conn, "select id from dsb_suite_items");
    expect(logins()).toBe(before + 1);
  });

  it("binds ? parameters and maps NUMBER(38,0) to numbers within ±(2^53−1) and exact strings beyond, TIMESTAMP to ISO, BOOLEAN to booleans", async () => {
    const r = await drain(conn, "select id, name, amount, big, created_at, flag from dsb_suite_items where id = ?", [1]);
    expect(r.columns).toEqual([
      { name: "ID", type: "NUMBER(38,0)" }, { name: "NAME", type: "VARCHAR" }, { name: "AMOUNT", type: "NUMBER(12,2)" },
      { name: "BIG", type: "NUMBER(38,0)" }, { name: "CREATED_AT", type: "TIMESTAMP_NTZ" }, { name: "FLAG", type: "BOOLEAN" },
    ]);
    expect(r.rows).toEqual([[1, "alpha", "10.50", "9007199254740993", "2024-01-02T03:04:05.000Z", true]]);
  });

  it("introspects in three statements: INFORMATION_SCHEMA.TABLES, .COLUMNS and SHOW PRIMARY KEYS", async () => {
    const n = own.statements.length;
    const tables = await conn.introspect();
    expect(own.statements.slice(n).map((s) => s.split(" ").slice(0, 12).join(" "))).toEqual([
      expect.stringContaining("information_schema.tables"), expect.stringContaining("information_schema.columns"), "SHOW PRIMARY KEYS IN DATABASE",
    ]);
    expect(tables[0]).toMatchObject({ schema: "PUBLIC", name: "DSB_SUITE_ITEMS", kind: "table", rowCount: 3, comment: "Suite items" });
    expect(tables[0]!.columns.slice(0, 2)).toEqual([
      { name: "ID", type: "NUMBER(38,0)", nullable: false, primary_key: true },
      { name: "NAME", type: "VARCHAR(100)", nullable: false, primary_key: false, comment: "item name" },
    ]);
    expect(tables[1]).toMatchObject({ name: "DSB_SUITE_VIEW", kind: "view", rowCount: null });
  });

  it("a timeout sends abort-request for the running statement and fails with kind timeout", async () => {
    const before = own.aborts.length;
    const err = await drain(conn, "SELECT SYSTEM$WAIT(30)", [], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("timeout");
    expect(own.aborts.length).toBe(before + 1);
    expect(own.aborts.at(-1)).toHaveProperty("requestId");
  });

  it("a cancel (the abort signal) sends abort-request for the running statement and fails with kind cancelled", async () => {
    const before = own.aborts.length;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const err = await drain(conn, "SELECT SYSTEM$WAIT(30)", [], { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as DriverError).kind).toBe("cancelled");
    expect(own.aborts.length).toBe(before + 1);
  });

  it("a wrong password fails with kind connection, naming the user but not the password", async () => {
    const bad = await snowflakeDriver.connect(SnowflakeConfigSchema.parse({ type: "snowflake", account: "dsbtest", username: USER, password: "wrong-pw-123", access_url: own.url }), []);
    const err = await bad.test().catch((e: unknown) => e);
    await bad.close();
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("connection");
    expect((err as DriverError).message).toMatch(/rejected the login for user 'DSB_READER': Incorrect username or password/);
    expect((err as DriverError).message).not.toContain("wrong-pw-123");
  });
});
