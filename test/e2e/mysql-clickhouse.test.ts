import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skipped } from "@dsb/runtime/testing";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { clickhouseExec, clickhouseUp, createMysqlSource, createPgSource } from "../support/peers.ts";

let sys: RunningSystem;
beforeAll(async () => { sys = await startTestSystem(); });
afterAll(async () => { await sys?.stop(); });

const post = async (path: string, json: unknown) => {
  const res = await sys.api(path, { method: "POST", json });
  return { status: res.status, body: await res.json() };
};

describe("MariaDB source through the gateway", () => {
  let my: Awaited<ReturnType<typeof createMysqlSource>>;
  beforeAll(async () => {
    my = await createMysqlSource([
      "create table items (id int primary key, title varchar(50) not null, price decimal(10,2), big bigint unsigned, added datetime)",
      "insert into items values (1,'pen',1.50,18446744073709551615,'2024-05-06 07:08:09'),(2,'ink',NULL,2,NULL)",
    ]);
  });
  afterAll(async () => { await my?.drop(); });

  it("refuses a wrong password with a message that does not echo it", async () => {
    const r = await post("/api/data/database/test", { type: "mysql", host: "127.0.0.1", database: my.database, username: my.user, password: "Wrong-Pass-123" });
    expect(r.body).toMatchObject({ success: false, code: "CONNECTION_FAILED" });
    expect(r.body.error).not.toContain("Wrong-Pass-123");
  });

  it("connects, introspects and queries with ? params", async () => {
    const c = await post("/api/data/database/connect", { type: "mysql", host: "127.0.0.1", database: my.database, username: my.user, password: my.password, name: "Shop" });
    expect(c.status).toBe(201);
    expect(JSON.stringify(c.body)).not.toContain(my.password);
    const items = c.body.data_source.schema.tables.find((t: { name: string }) => t.name === "items");
    expect(items.columns.find((x: { name: string }) => x.name === "id")).toMatchObject({ primary_key: true, nullable: false });
    const q = await post(`/api/data/sources/${c.body.data_source.id}/query`, { sql: "select id, title, price, big, added from items where id >= ? order by id", params: [1] });
    expect(q.status).toBe(200);
    expect(q.body.rows[0]).toEqual([1, "pen", "1.50", "18446744073709551615", expect.stringMatching(/^2024-05-06T07:08:09/)]);
    expect(q.body.rows[1]).toEqual([2, "ink", null, 2, null]);
    // count(*) is a BIGINT: a JSON number, with the database's type kept (API.md "Column values").
    const n = await post(`/api/data/sources/${c.body.data_source.id}/query`, { sql: "select count(*) as n from items" });
    expect(n.body.columns).toEqual([{ name: "n", type: "BIGINT" }]);
    expect(n.body.rows).toEqual([[2]]);
    const w = await post(`/api/data/sources/${c.body.data_source.id}/query`, { sql: "delete from items" });
    expect(w.status).toBe(422);
    const hist = await (await sys.api(`/api/data/sources/${c.body.data_source.id}/queries`)).json();
    expect(hist.queries.map((h: { status: string }) => h.status)).toEqual(["error", "success", "success"]);
  });
});

const haveClickhouse = await clickhouseUp();
if (!haveClickhouse) skipped("clickhouse e2e", "no server on 127.0.0.1:8123 (bash .ci/clickhouse.sh starts one)");

describe.runIf(haveClickhouse)("ClickHouse source through the gateway", () => {
  const db = `dsb_e2e_${Date.now().toString(36)}`;
  beforeAll(async () => {
    await clickhouseExec(`create database ${db}`);
    await clickhouseExec(`create table ${db}.hits (id UInt64, url String, day Date) engine = MergeTree order by id`);
    await clickhouseExec(`insert into ${db}.hits values (1,'/a','2024-01-01'),(2,'/b','2024-01-02'),(3,'/a','2024-01-02')`);
  });
  afterAll(async () => { await clickhouseExec(`drop database if exists ${db}`); });

  it("connects, introspects and aggregates", async () => {
    const c = await post("/api/data/database/connect", { type: "clickhouse", host: "127.0.0.1", database: db, name: "Hits" });
    expect(c.status).toBe(201);
    const hits = c.body.data_source.schema.tables.find((t: { name: string }) => t.name === "hits");
    expect(hits.columns.map((x: { name: string }) => x.name)).toEqual(["id", "url", "day"]);
    const q = await post(`/api/data/sources/${c.body.data_source.id}/query`, { sql: `select url, count() as n from ${db}.hits group by url order by url` });
    expect(q.status).toBe(200);
    expect(q.body.columns[1]).toEqual({ name: "n", type: "UInt64" });
    expect(q.body.rows).toEqual([["/a", 2], ["/b", 1]]);
    const qc = await post(`/api/data/sources/${c.body.data_source.id}/query`, { query_config: { table: `${db}.hits`, filters: [{ column: "url", op: "=", value: "/a" }], select: ["id"], order_by: [{ column: "id" }] } });
    expect(qc.body.rows).toEqual([[1], [3]]);
  });
});

describe("schema refresh when the database is gone", () => {
  it("returns the stored schema with the seed's warning", async () => {
    const pg = await createPgSource(["create table t (id int primary key)"]);
    const c = await post("/api/data/database/connect", { type: "postgresql", host: "127.0.0.1", database: pg.database, username: "postgres", password: "x", name: "gone" });
    expect(c.status).toBe(201);
    await pg.drop();
    const res = await sys.api(`/api/data/sources/${c.body.data_source.id}/schema?refresh=true`);
    const body = await res.json();
    expect(res.status).toBe(200);
    expect(body.warning).toBe("Using cached schema - live fetch failed");
    expect(body.schema.tables.map((t: { name: string }) => t.name)).toEqual(["t"]);
  });
});
