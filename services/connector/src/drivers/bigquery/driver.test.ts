import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError, BigqueryConfigSchema } from "@dsb/contracts";
import { drain, driverSuite } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection } from "../types.ts";
import { bigqueryTarget, type BigqueryConfig } from "./config.ts";
import { bigqueryDriver } from "./driver.ts";
import { startBigqueryStandIn, type BigqueryStandIn } from "../../../../../test/support/stand-ins/bigquery.ts";
import { bigqueryValue } from "./types.ts";

const PROJECT = "dsb-test-project";
const DATASET = "dsb_suite";

function serviceAccountKey(): { json: Record<string, string>; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    publicKey,
    json: {
      type: "service_account", project_id: PROJECT, private_key_id: "k1", client_email: `reader@${PROJECT}.iam.gserviceaccount.com`,
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), token_uri: "https://oauth2.googleapis.com/token",
    },
  };
}

const key = serviceAccountKey();
let standIn: BigqueryStandIn | null = null;
async function standInConfig(): Promise<BigqueryConfig> {
  standIn ??= await startBigqueryStandIn({ publicKey: key.publicKey, project: PROJECT, dataset: DATASET });
  return BigqueryConfigSchema.parse({ type: "bigquery", project_id: PROJECT, credentials: JSON.stringify(key.json), api_endpoint: standIn.url, allow_writes: true });
}


const harness = {
  type: "bigquery" as const,
  table: `${DATASET}.dsb_suite_items`,
  placeholder: () => "?",
  // No SLEEP in BigQuery: a cross join of generated arrays runs long and scans no table bytes.
  sleepSql: () => "SELECT COUNT(*) FROM UNNEST(GENERATE_ARRAY(1, 200000)) a, UNNEST(GENERATE_ARRAY(1, 200000)) b WHERE MOD(a * b, 7) = 3",
  writeSql: `DELETE FROM ${DATASET}.dsb_suite_items WHERE TRUE`,
  teardownSql: [`DROP VIEW IF EXISTS ${DATASET}.dsb_suite_view`, `DROP TABLE IF EXISTS ${DATASET}.dsb_suite_items`],
  setupSql: [
    `CREATE SCHEMA IF NOT EXISTS ${DATASET}`,
    `CREATE OR REPLACE TABLE ${DATASET}.dsb_suite_items (id INT64 NOT NULL, name STRING(100) NOT NULL, amount NUMERIC(12,2), big INT64, created_at TIMESTAMP, flag BOOL, PRIMARY KEY (id) NOT ENFORCED)`,
    `INSERT INTO ${DATASET}.dsb_suite_items VALUES (1,'alpha',10.50,9007199254740993,TIMESTAMP '2024-01-02 03:04:05+00',TRUE),(2,'beta',NULL,2,TIMESTAMP '2024-02-03 04:05:06+00',FALSE),(3,'gamma',7.25,3,NULL,NULL)`,
    `CREATE OR REPLACE VIEW ${DATASET}.dsb_suite_view AS SELECT id, name FROM ${DATASET}.dsb_suite_items`,
  ],
  badCredentials(config: BigqueryConfig) {
    const other = serviceAccountKey();
    return { config: { ...config, credentials: other.json }, secret: other.json.private_key!.split("\n")[1]! };
  },
};

/** The shared suite through the real SDK against the local REST stand-in. */
driverSuite<BigqueryConfig>({ ...harness, config: standInConfig, cleanup: async () => { await standIn?.close(); standIn = null; } });

/** Live BigQuery when credentials are in the environment. */
driverSuite<BigqueryConfig>({
  ...harness,
  async config() {
    const project = process.env.BIGQUERY_PROJECT_ID;
    const credentials = process.env.BIGQUERY_CREDENTIALS;
    if (!project || !credentials) return { skip: "set BIGQUERY_PROJECT_ID and BIGQUERY_CREDENTIALS (service-account JSON)" };
    return BigqueryConfigSchema.parse({ type: "bigquery", project_id: project, credentials, location: process.env.BIGQUERY_LOCATION, allow_writes: true });
  },
});

describe("bigquery config and types", () => {
  it("targets api_endpoint's host when set, Google's otherwise", () => {
    const base = { type: "bigquery", project_id: "p", credentials: key.json };
    expect(bigqueryTarget(BigqueryConfigSchema.parse(base))).toEqual({ hostname: "bigquery.googleapis.com", port: 443 });
    expect(bigqueryDriver.targets(BigqueryConfigSchema.parse({ ...base, api_endpoint: "http://127.0.0.1:9050" }))).toEqual([{ hostname: "127.0.0.1", port: 9050 }]);
  });

  it("maps REST cells: INT64 a number within ±(2^53−1) and text beyond, NUMERIC as strings, TIMESTAMP micros as ISO, BOOL, repeated and STRUCT", () => {
    expect(bigqueryValue({ name: "a", type: "INTEGER" }, "9007199254740993")).toBe("9007199254740993");
    expect(bigqueryValue({ name: "a", type: "INT64" }, "9007199254740991")).toBe(9007199254740991);
    expect(bigqueryValue({ name: "a", type: "INT64" }, "-9007199254740991")).toBe(-9007199254740991);
    expect(bigqueryValue({ name: "a", type: "INT64" }, "-9007199254740992")).toBe("-9007199254740992");
    expect(bigqueryValue({ name: "a", type: "NUMERIC" }, "10.5")).toBe("10.5");
    expect(bigqueryValue({ name: "a", type: "TIMESTAMP" }, "1704164645123456")).toBe("2024-01-02T03:04:05.123456Z");
    expect(bigqueryValue({ name: "a", type: "TIMESTAMP" }, "1.704164645E9")).toBe("2024-01-02T03:04:05.000Z");
    expect(bigqueryValue({ name: "a", type: "BOOLEAN" }, "false")).toBe(false);
    expect(bigqueryValue({ name: "a", type: "FLOAT" }, "1.5")).toBe(1.5);
    expect(bigqueryValue({ name: "a", type: "INTEGER", mode: "REPEATED" }, [{ v: "1" }, { v: "2" }])).toEqual([1, 2]);
    expect(bigqueryValue({ name: "s", type: "RECORD", fields: [{ name: "x", type: "INTEGER" }, { name: "d", type: "DATE" }] }, { f: [{ v: "7" }, { v: "2024-01-02" }] }))
      .toEqual({ x: 7, d: "2024-01-02" });
    const proto = bigqueryValue({ name: "s", type: "RECORD", fields: [{ name: "__proto__", type: "STRING" }, { name: "constructor", type: "STRING" }] }, { f: [{ v: "p" }, { v: "c" }] });
    expect(JSON.stringify(proto)).toBe('{"__proto__":"p","constructor":"c"}');
  });

  it("refuses credentials that are not a service-account key", async () => {
    for (const credentials of ["not json", JSON.stringify({ type: "authorized_user", client_id: "x" })]) {
      const err = await bigqueryDriver.connect(BigqueryConfigSchema.parse({ type: "bigquery", project_id: "p", credentials }), []).catch((e: unknown) => e);
      // A config error, the same code (VALIDATION) in every driver.
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("VALIDATION");
    }
  });
});

describe("bigquery driver against the REST stand-in", () => {
  let own: BigqueryStandIn;
  let conn: Connection;
  beforeAll(async () => {
    own = await startBigqueryStandIn({ publicKey: key.publicKey, project: PROJECT, dataset: DATASET });
    conn = await bigqueryDriver.connect(BigqueryConfigSchema.parse({ type: "bigquery", project_id: PROJECT, credentials: key.json, api_endpoint: own.url }), []);
  });
  afterAll(async () => {
    await conn.close();
    await own.close();
  });

  it("signs requests with the key itself (self-signed JWT): no OAuth token endpoint, only the API", async () => {
    await conn.test();
    expect(own.requests.length).toBeGreaterThan(0);
    for (const r of own.requests) expect(r).toMatch(/^(GET|POST) \/bigquery\/v2\/projects\/dsb-test-project\//);
  });

  it("binds ? parameters with types and pages through getQueryResults with pageToken", async () => {
    const before = own.requests.filter((r) => r.includes("/queries/")).length;
    const r = await drain(conn, "select id, name from dsb_suite.dsb_suite_items order by id", [], { batchRows: 1 });
    expect(r.batches.map((b) => b.length)).toEqual([1, 1, 1]);
    expect(own.requests.filter((x) => x.includes("/queries/")).length - before).toBe(3);
    const p = await drain(conn, "select name from dsb_suite.dsb_suite_items where id = ?", [3]);
    expect(p.rows).toEqual([["gamma"]]);
    expect(p.columns).toEqual([{ name: "name", type: "STRING" }]);
  });

  it("read-only refuses a DML statement at the dry run, before any job runs", async () => {
    const n = own.statements.length;
    const err = await drain(conn, "UPDATE dsb_suite.dsb_suite_items SET name = 'x' WHERE TRUE").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).message).toMatch(/classifies this statement as UPDATE/);
    expect(own.statements.slice(n)).toEqual([{ sql: "UPDATE dsb_suite.dsb_suite_items SET name = 'x' WHERE TRUE", dryRun: true }]);
  });

  it("a timeout calls jobs.cancel for the running job", async () => {
    const err = await drain(conn, harness.sleepSql(), [], { timeoutMs: 400 }).catch((e: unknown) => e);
    expect((err as DriverError).kind).toBe("timeout");
    await new Promise((r) => setTimeout(r, 100));
    expect(own.cancelled.length).toBe(1);
  });

  it("a cancel (the abort signal) calls jobs.cancel for the running job and fails with kind cancelled", async () => {
    const before = own.cancelled.length;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const err = await drain(conn, harness.sleepSql(), [], { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as DriverError).kind).toBe("cancelled");
    await new Promise((r) => setTimeout(r, 100));
    expect(own.cancelled.length).toBe(before + 1);
  });

  it("introspects with datasets.list plus one INFORMATION_SCHEMA query per dataset", async () => {
    const n = own.statements.length;
    const tables = await conn.introspect();
    const jobs = own.statements.slice(n).filter((s) => !s.dryRun);
    expect(jobs.length).toBe(1);
    expect(jobs[0]!.sql).toContain("`dsb-test-project.dsb_suite`.INFORMATION_SCHEMA.COLUMNS");
    const items = tables.find((t) => t.name === "dsb_suite_items")!;
    expect(items).toMatchObject({ schema: "dsb_suite", kind: "table", rowCount: 3, comment: "Suite items" });
    expect(items.columns[1]).toEqual({ name: "name", type: "STRING", nullable: false, primary_key: false, comment: "item name" });
  });
});
