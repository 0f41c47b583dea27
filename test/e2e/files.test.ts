import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBlobStore } from "@dsb/storage";
import { natsConnectionOf } from "@dsb/runtime";
import { declareHuge, parquet, workbook } from "../support/corpus.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

let sys: RunningSystem;
beforeAll(async () => { sys = await startTestSystem({ env: { MAX_UPLOAD_BYTES: String(2 * 1024 * 1024) } }); });
afterAll(async () => { await sys?.stop(); });

async function upload(name: string, content: string | Uint8Array, extra: Record<string, string> = {}, as?: { tenant: string }) {
  const form = new FormData();
  form.set("file", new Blob([typeof content === "string" ? content : new Uint8Array(content)]), name);
  for (const [k, v] of Object.entries(extra)) form.set(k, v);
  const res = await sys.api("/api/data/upload", { method: "POST", body: form, ...(as ? { as } : {}) });
  return { status: res.status, body: await res.json() };
}
const query = async (id: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await sys.api(`/api/data/sources/${id}/query`, { method: "POST", json: body, headers });
  return { status: res.status, res };
};
const colTypes = (table: { columns: { name: string; type: string }[] }) => Object.fromEntries(table.columns.map((c) => [c.name, c.type]));

/** Stored objects of one tenant (keys start `${tenant}/`), whichever store the system uses; other test files share the NATS bucket. */
async function storedKeys(tenant: string): Promise<string[]> {
  const store = await openBlobStore(sys.env, natsConnectionOf(sys.system.bus));
  const keys: string[] = [];
  for await (const b of store.list(`${tenant}/`)) keys.push(b.key);
  return keys;
}

describe("file sources through the gateway", () => {
  let csvId: string;

  it("uploads a semicolon CSV with a BOM and CRLF, infers types and answers file queries", async () => {
    const csv = "\uFEFFid;city;amount;joined;zip;active\r\n" +
      Array.from({ length: 200 }, (_, i) => `${i + 1};${["Paris", "Berlin", "Rome"][i % 3]};${(i * 1.5).toFixed(2)};2024-01-${String((i % 28) + 1).padStart(2, "0")};0${1000 + i};${i % 2 === 0}`).join("\r\n") + "\r\n";
    const { status, body } = await upload("sales data.csv", csv, { name: "Sales CSV" });
    expect(status).toBe(201);
    const ds = body.data_source;
    csvId = ds.id;
    expect(ds).toMatchObject({ name: "Sales CSV", type: "file", format: "csv", tenant_id: "t1" });
    expect(ds.schema.tables).toHaveLength(1);
    const t = ds.schema.tables[0];
    expect(t).toMatchObject({ name: "sales data", rowCount: 200 });
    expect(colTypes(t)).toEqual({ id: "INTEGER", city: "VARCHAR", amount: "DOUBLE", joined: "DATE", zip: "VARCHAR", active: "BOOLEAN" });

    const grouped = await query(csvId, { query_config: { filters: [{ column: "active", op: "=", value: true }], group_by: ["city"], aggregates: [{ fn: "count", as: "n" }, { fn: "sum", column: "amount", as: "total" }], order_by: [{ column: "city" }] } });
    expect(grouped.status).toBe(200);
    const g = await grouped.res.json();
    expect(g.columns.map((c: { name: string }) => c.name)).toEqual(["city", "n", "total"]);
    expect(g.rows.map((r: unknown[]) => [r[0], r[1]])).toEqual([["Berlin", 33], ["Paris", 34], ["Rome", 33]]);

    const page = await (await query(csvId, { query_config: { select: ["id", "zip"], filters: [{ column: "city", op: "in", value: ["Rome"] }], order_by: [{ column: "id", desc: true }], limit: 3, offset: 1 } })).res.json();
    expect(page.rows).toEqual([[195, "01194"], [192, "01191"], [189, "01188"]]);

    const capped = await (await query(csvId, { query_config: {}, limit: 50 })).res.json();
    expect(capped).toMatchObject({ row_count: 50, truncated: true });
  });

  it("refuses sql on a file source with 422 saying to use query_config", async () => {
    const { status, res } = await query(csvId, { sql: "select * from x" });
    expect(status).toBe(422);
    expect((await res.json()).error).toMatch(/query_config/);
  });

  it("streams a file query as CSV and records history", async () => {
    const { res } = await query(csvId, { query_config: { select: ["id", "city"], order_by: [{ column: "id" }] } }, { accept: "text/csv" });
    const lines = (await res.text()).trimEnd().split("\r\n");
    expect(lines[0]).toBe("id,city");
    expect(lines).toHaveLength(201);
    expect(lines[1]).toBe("1,Paris");
    const hist = await (await sys.api(`/api/data/sources/${csvId}/queries`)).json();
    expect(hist.queries[0]).toMatchObject({ status: "success", result_count: 200, query: null });
  });

  it("uploads XLSX with one table per sheet", async () => {
    const { status, body } = await upload("report.xlsx", await workbook());
    expect(status).toBe(201);
    const names = body.data_source.schema.tables.map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining(["Orders", "Regions"]));
    const orders = body.data_source.schema.tables.find((t: { name: string }) => t.name === "Orders");
    expect(colTypes(orders)).toMatchObject({ id: "INTEGER", amount: "DOUBLE", paid: "BOOLEAN" });
    const r = await (await query(body.data_source.id, { query_config: { table: "Regions", select: ["code", "name"], order_by: [{ column: "code" }] } })).res.json();
    expect(r.rows).toEqual([["EU", "Europe"], ["US", "United States"]]);
  });

  it("uploads nested JSON with dotted columns and NDJSON with widened types", async () => {
    const json = JSON.stringify([{ id: 1, address: { city: "Oslo", zip: "0150" } }, { id: 2, address: { city: "Lima" } }]);
    const j = await upload("people.json", json);
    expect(j.status).toBe(201);
    expect(j.body.data_source.format).toBe("json");
    expect(j.body.data_source.schema.tables[0].columns.map((c: { name: string }) => c.name)).toEqual(["id", "address.city", "address.zip"]);
    const r = await (await query(j.body.data_source.id, { query_config: { select: ["address.city"], filters: [{ column: "id", op: "=", value: 2 }] } })).res.json();
    expect(r.rows).toEqual([["Lima"]]);

    const nd = await upload("events.ndjson", '{"n":1,"v":1}\n{"n":2,"v":2.5}\n{"n":3,"v":"x"}\n');
    expect(nd.status).toBe(201);
    expect(nd.body.data_source.format).toBe("ndjson");
    expect(colTypes(nd.body.data_source.schema.tables[0])).toEqual({ n: "INTEGER", v: "VARCHAR" });
  });

  it("uploads Parquet with types from the footer", async () => {
    const { status, body } = await upload("metrics.parquet", parquet(1000));
    expect(status).toBe(201);
    const t = body.data_source.schema.tables[0];
    expect(t.rowCount).toBe(1000);
    const r = await (await query(body.data_source.id, { query_config: { group_by: ["grp"], aggregates: [{ fn: "count", as: "n" }], order_by: [{ column: "grp" }], limit: 2 } })).res.json();
    expect(r.rows).toEqual([["g0", 100], ["g1", 100]]);
  });

  it("refuses broken files with a clear 4xx and leaves nothing behind", async () => {
    // A tenant of its own: its keys are the only ones under its prefix, whatever else uses the bucket.
    const as = { tenant: `broken-${Date.now().toString(36)}` };
    const up = (name: string, content: string | Uint8Array) => upload(name, content, {}, as);
    // One good upload first, so a store that lists nothing at all cannot pass the check below.
    expect((await up("ok.csv", "a,b\n1,2\n")).status).toBe(201);
    const before = (await (await sys.api("/api/data/sources?type=file", { as })).json()).data_sources.length;
    const keysBefore = await storedKeys(as.tenant);
    expect(keysBefore.length).toBeGreaterThan(0);
    const ragged = await up("ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n");
    expect(ragged.status).toBe(422);
    expect(ragged.body).toMatchObject({ code: "PARSE_FAILED" });
    expect(ragged.body.error).toMatch(/[Ll]ine 3/);
    const png = await up("image.csv", new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 1, 2, 3]));
    expect(png.status).toBe(415);
    expect(png.body.code).toBe("UNSUPPORTED_FORMAT");
    const empty = await up("empty.csv", "");
    expect(empty.status).toBeGreaterThanOrEqual(400);
    expect(empty.status).toBeLessThan(500);
    const badJson = await up("bad.json", '[{"a": 1}, {"a": ');
    expect(badJson.status).toBe(422);
    const bomb = await up("bomb.xlsx", declareHuge(await workbook()));
    expect(bomb.status).toBe(422);
    expect(bomb.body.error).toMatch(/zip bomb|uncompressed/i);
    const truncated = await up("cut.parquet", parquet(100).subarray(0, 200));
    expect(truncated.status).toBe(422);
    const tooBig = await up("big.csv", "x\n" + "1234567\n".repeat(400_000));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.code).toBe("PAYLOAD_TOO_LARGE");
    const noFile = await sys.api("/api/data/upload", { method: "POST", as, body: (() => { const f = new FormData(); f.set("name", "x"); return f; })() });
    expect(noFile.status).toBe(400);
    expect((await (await sys.api("/api/data/sources?type=file", { as })).json()).data_sources.length).toBe(before);
    expect(await storedKeys(as.tenant)).toEqual(keysBefore);
  });

  it("another tenant cannot see or query a file source", async () => {
    expect((await sys.api(`/api/data/sources/${csvId}`, { as: { tenant: "t2" } })).status).toBe(404);
    expect((await sys.api(`/api/data/sources/${csvId}/query`, { method: "POST", as: { tenant: "t2" }, json: { query_config: {} } })).status).toBe(404);
  });
});
