import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { createMysqlSource, createPgSource } from "../support/peers.ts";

/** Every log line at trace level and every response body, grepped for the secrets sent. */
describe("no secret in any response or log line", () => {
  const logs: string[] = [];
  const bodies: string[] = [];
  let sys: RunningSystem;
  let pgSrc: Awaited<ReturnType<typeof createPgSource>>;
  let my: Awaited<ReturnType<typeof createMysqlSource>>;
  const PG_PASSWORD = "Pg-Password-Canary-7781";
  const WRONG = "Wrong-Password-Canary-9932";
  const BQ_KEY = "-----BEGIN PRIVATE KEY-----CANARYKEY-----END PRIVATE KEY-----";

  beforeAll(async () => {
    const stream = new PassThrough();
    stream.on("data", (d) => logs.push(String(d)));
    sys = await startTestSystem({ logTo: stream });
    pgSrc = await createPgSource(["create table t (id int primary key)"]);
    my = await createMysqlSource(["create table t (id int primary key)"]);
  });
  afterAll(async () => {
    await sys?.stop();
    await pgSrc?.drop();
    await my?.drop();
  });

  const call = async (path: string, init: Parameters<RunningSystem["api"]>[1]) => {
    const res = await sys.api(path, init);
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, text };
  };

  it("keeps passwords, connection strings and keys out of responses and logs", async () => {
    const pgCfg = { type: "postgresql", host: "127.0.0.1", database: pgSrc.database, username: "postgres", password: PG_PASSWORD };
    const connected = await call("/api/data/database/connect", { method: "POST", json: { ...pgCfg, name: "pg" } });
    expect(connected.status).toBe(201);
    const id = JSON.parse(connected.text).data_source.id;
    await call(`/api/data/sources/${id}`, { method: "GET" });
    await call("/api/data/sources", { method: "GET" });
    await call(`/api/data/sources/${id}/query`, { method: "POST", json: { sql: "select * from missing_table" } });
    await call(`/api/data/sources/${id}/schema?refresh=true`, { method: "GET" });
    await call("/api/data/database/test", { method: "POST", json: { type: "mysql", host: "127.0.0.1", database: my.database, username: my.user, password: WRONG } });
    await call("/api/data/database/connect", { method: "POST", json: { type: "mysql", host: "127.0.0.1", database: my.database, username: my.user, password: WRONG, name: "bad" } });
    await call("/api/data/database/test", { method: "POST", json: { type: "postgresql", connection_string: `postgresql://postgres:${PG_PASSWORD}@127.0.0.1:1/x` } });
    await call("/api/data/database/test", { method: "POST", json: { type: "bigquery", project_id: "p", credentials: { type: "service_account", private_key: BQ_KEY, client_email: "a@b.c" }, api_endpoint: "http://127.0.0.1:1" } });
    const all = bodies.join("\n") + logs.join("");
    for (const secret of [PG_PASSWORD, WRONG, BQ_KEY, "CANARYKEY", my.password]) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/gAAAA/);
    expect(logs.length).toBeGreaterThan(0);
  });
});
