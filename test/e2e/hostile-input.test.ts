import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { JWT_SECRET, startTestSystem, type RunningSystem } from "../support/system.ts";
import { createPgSource } from "../support/peers.ts";

let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
let pgId: string;
let fileId: string;

const nested = (depth: number, leaf: string) => "[".repeat(depth) + leaf + "]".repeat(depth);
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  sys.api(path, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
const pgConfig = () => ({ type: "postgres", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: "x" });
async function history(id: string): Promise<Record<string, unknown>[]> {
  return (await (await sys.api(`/api/data/sources/${id}/queries`)).json()).queries;
}
async function expectFailure(res: Response, status: number, code: string): Promise<string> {
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(body).toMatchObject({ success: false, code });
  expect(body.error.length).toBeGreaterThan(10);
  expect(JSON.stringify(body)).not.toMatch(/\bat \w+ \(|node_modules|stack/);
  return body.error;
}

beforeAll(async () => {
  sys = await startTestSystem();
  src = await createPgSource(["create table t (id int, name text)", "insert into t values (1, 'a'), (2, 'b')"]);
  const res = await sys.api("/api/data/database/connect", { method: "POST", json: { ...pgConfig(), name: "hostile" } });
  expect(res.status).toBe(201);
  pgId = (await res.json()).data_source.id;
  const form = new FormData();
  form.set("file", new Blob(["id,name\n1,a\n2,b\n"]), "f.csv");
  fileId = (await (await sys.api("/api/data/upload", { method: "POST", body: form })).json()).data_source.id;
});
afterAll(async () => {
  await sys?.stop();
  await src?.drop();
});

describe("a NUL character", () => {
  it("in a source name is a 400, on connect and on upload, and nothing is stored", async () => {
    const before = (await (await sys.api("/api/data/sources")).json()).data_sources.length;
    const msg = await expectFailure(await sys.api("/api/data/database/connect", { method: "POST", json: { ...pgConfig(), name: "bad\u0000name" } }), 400, "VALIDATION");
    expect(msg).toMatch(/name/);
    const form = new FormData();
    form.set("file", new Blob(["id\n1\n"]), "x.csv");
    form.set("name", "bad\u0000name");
    await expectFailure(await sys.api("/api/data/upload", { method: "POST", body: form }), 400, "VALIDATION");
    expect((await (await sys.api("/api/data/sources")).json()).data_sources.length).toBe(before);
  });

  it("in the SQL is a 422 QUERY_FAILED, recorded in history", async () => {
    const sql = "select 1 as a\u0000 -- nul";
    await expectFailure(await sys.api(`/api/data/sources/${pgId}/query`, { method: "POST", json: { sql } }), 422, "QUERY_FAILED");
    expect((await history(pgId))[0]).toMatchObject({ status: "error", query: "select 1 as a\uFFFD -- nul" });
  });

  it("in natural_language_query keeps the history entry (stored with U+FFFD)", async () => {
    const res = await sys.api(`/api/data/sources/${pgId}/query`, { method: "POST", json: { sql: "select 42 as answer", natural_language_query: "the\u0000answer" } });
    expect(res.status).toBe(200);
    const { query_id } = await res.json();
    expect((await history(pgId)).find((q) => q.id === query_id)).toMatchObject({ status: "success", natural_language_query: "the\uFFFDanswer", query: "select 42 as answer" });
  });

  it("in a file query's filter value is answered, and recorded", async () => {
    const res = await sys.api(`/api/data/sources/${fileId}/query`, { method: "POST", json: { query_config: { filters: [{ column: "name", op: "=", value: "a\u0000" }] } } });
    expect(res.status).toBe(200);
    expect((await res.json()).rows).toEqual([]);
    expect((await history(fileId))[0]).toMatchObject({ status: "success", query_config: { filters: [{ value: "a\uFFFD" }] } });
  });
});

describe("JSON nested thousands of levels deep", () => {
  it("in params, a filter value or BigQuery credentials is a 400 before anything runs", async () => {
    const before = (await history(pgId)).length;
    await expectFailure(await post(`/api/data/sources/${pgId}/query`, `{"sql":"select $1::text","params":[${nested(5000, "1")}]}`), 400, "VALIDATION");
    await expectFailure(await post(`/api/data/sources/${fileId}/query`, `{"query_config":{"filters":[{"column":"name","op":"=","value":${nested(5000, "1")}}]}}`), 400, "VALIDATION");
    const msg = await expectFailure(await post("/api/data/database/test", `{"type":"bigquery","project_id":"p","credentials":${nested(100_000, "{}")}}`), 400, "VALIDATION");
    expect(msg).toMatch(/nest/);
    await expectFailure(await post("/api/data/database/connect", `{"type":"bigquery","name":"x","project_id":"p","credentials":{"a":${nested(5000, "{}")}}}`), 400, "VALIDATION");
    expect((await history(pgId)).length).toBe(before);
  });

  it("in a JSON upload is a 422 PARSE_FAILED and leaves nothing behind", async () => {
    const before = (await (await sys.api("/api/data/sources")).json()).data_sources.length;
    for (const text of [nested(10_000, "1"), `[{"a":${nested(10_000, "1")}}]`, `{"a":1}\n{"b":${nested(10_000, "1")}}\n`]) {
      const form = new FormData();
      form.set("file", new Blob([text]), text.startsWith("{") ? "deep.ndjson" : "deep.json");
      await expectFailure(await sys.api("/api/data/upload", { method: "POST", body: form }), 422, "PARSE_FAILED");
    }
    expect((await (await sys.api("/api/data/sources")).json()).data_sources.length).toBe(before);
  });

  it("stays accepted at ordinary depths", async () => {
    const res = await post(`/api/data/sources/${pgId}/query`, `{"sql":"select $1::text as v","params":[${JSON.stringify(JSON.stringify({ a: { b: { c: [1, [2, [3]]] } } }))}]}`);
    expect(res.status).toBe(200);
  });
});

describe("SQL the database rejects", () => {
  it("an unterminated /* comment on an export is a 422 QUERY_FAILED with the database's message, recorded", async () => {
    for (const format of ["csv", "ndjson"]) {
      const msg = await expectFailure(await sys.api(`/api/data/sources/${pgId}/query?format=${format}`, { method: "POST", json: { sql: "select * from t /* never closed" } }), 422, "QUERY_FAILED");
      expect(msg).toMatch(/comment/i);
      expect((await history(pgId))[0]).toMatchObject({ status: "error", query: "select * from t /* never closed" });
    }
    await expectFailure(await sys.api(`/api/data/sources/${pgId}/query`, { method: "POST", json: { sql: "select * from t /* never closed" } }), 422, "QUERY_FAILED");
  });
});

describe("tokens", () => {
  const sign = (claims: Record<string, unknown>, exp?: string) => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject("u1");
    return (exp ? jwt.setExpirationTime(exp) : jwt).sign(new TextEncoder().encode(JWT_SECRET));
  };
  const list = async (token: string) => fetch(`${sys.url}/api/data/sources`, { headers: { authorization: `Bearer ${token}` } });

  it("without exp are refused: they would be valid forever", async () => {
    expect(await expectFailure(await list(await sign({ tenant_id: "t1" })), 401, "UNAUTHORIZED")).toMatch(/exp/);
    expect((await list(await sign({ tenant_id: "t1" }, "5m"))).status).toBe(200);
  });

  it("name the tenant with a string only: 123 is not a second spelling of \"123\"", async () => {
    expect(await expectFailure(await list(await sign({ tenant_id: 123 }, "5m")), 401, "UNAUTHORIZED")).toMatch(/tenant_id.*string/);
    const res = await list(await sign({ tenant_id: "123" }, "5m"));
    expect(res.status).toBe(200);
    expect((await res.json()).data_sources).toEqual([]);
  });
});
