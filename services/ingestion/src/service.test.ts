import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "@dsb/bus";
import { AppError, type QueryConfig } from "@dsb/contracts";
import { createLogger, parseEnv } from "@dsb/runtime";
import { testBus, uniqueId } from "@dsb/runtime/testing";
import { FsBlobStore, type BlobStore } from "@dsb/storage";
import { parquetWriteBuffer } from "hyparquet-writer";
import { startIngestion } from "./index.ts";
import { declareHuge, parquet, parquetTyped, PNG, workbook } from "../../../test/support/corpus.ts";

const tenant = uniqueId("tenant");
let dir: string;
let bus: Bus;
let store: BlobStore;
let service: { stop(): Promise<void> };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dsb-ingest-"));
  store = new FsBlobStore(join(dir, "uploads"));
  bus = await testBus("ingestion-test");
  const env = parseEnv({ DATA_DIR: dir, DATASET_CACHE_BYTES: String(64 * 1024 ** 2) });
  service = await startIngestion({ env, bus, log: createLogger("ingestion", "silent"), replicaId: uniqueId("r"), store });
});
afterAll(async () => {
  await service?.stop();
  await bus?.close();
  await rm(dir, { recursive: true, force: true });
});

async function put(body: string | Buffer, filename: string): Promise<string> {
  const key = `${tenant}/${crypto.randomUUID()}/${filename}`;
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  await store.put(key, (async function* () { yield bytes; })(), { maxBytes: 1e9 });
  return key;
}
async function parse(body: string | Buffer, filename: string) {
  const key = await put(body, filename);
  return { key, ...(await bus.request("ingestion.parse", { tenant_id: tenant, key, filename, size: 0 }, { timeoutMs: 60_000 })) };
}
async function parseError(body: string | Buffer, filename: string): Promise<AppError> {
  const key = await put(body, filename);
  const e = await bus.request("ingestion.parse", { tenant_id: tenant, key, filename, size: 0 }).then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(AppError);
  const keys: string[] = [];
  for await (const o of store.list(`${key}.dataset/`)) keys.push(o.key);
  expect(keys).toEqual([]); // no half-written dataset
  return e as AppError;
}
const cols = (t: { columns: { name: string; type: string }[] }) => Object.fromEntries(t.columns.map((c) => [c.name, c.type]));
const query = (file_path: string, query_config: QueryConfig, extra: { limit?: number; stream?: boolean } = {}) =>
  bus.request("ingestion.query", { tenant_id: tenant, id: "src1", file_path, query_config, ...extra });

describe("ingestion.parse formats", () => {
  it("xlsx: one table per sheet, title row skipped, dates, formulas' cached results, merged cells", async () => {
    const r = await parse(await workbook(), "report.xlsx");
    expect(r.format).toBe("xlsx");
    expect(r.schema.tables.map((t) => t.name)).toEqual(["Orders", "Regions"]);
    const [orders, regions] = r.schema.tables;
    expect(cols(orders!)).toEqual({ id: "INTEGER", customer: "VARCHAR", amount: "DOUBLE", ordered: "DATE", paid: "BOOLEAN", double_amount: "DOUBLE" });
    expect(orders!.rowCount).toBe(4);
    expect(cols(regions!)).toEqual({ code: "VARCHAR", name: "VARCHAR", opened: "TIMESTAMP" });
    expect(r.row_count).toBe(6);
    const page = await query(r.key, { table: "Orders", order_by: [{ column: "id" }] });
    expect(page.rows).toEqual([
      [1, "Acme", 10.5, "2024-01-15", true, 21],
      [2, "Globex", 20, "2024-02-01", false, 40],
      [3, "Acme", 30.25, "2024-03-10", true, 60.5],
      [4, null, 5, "2024-03-11", false, 10],
    ]);
    const reg = await query(r.key, { table: "Regions" });
    expect(reg.rows[0]).toEqual(["EU", "Europe", "2020-06-01T09:30:00"]);
    await expect(query(r.key, {})).rejects.toMatchObject({ code: "VALIDATION", message: expect.stringContaining("Orders, Regions") });
  });

  it("json: nested objects flattened to dotted names up to depth 3, arrays and deeper objects as JSON, types widened", async () => {
    const data = [
      { id: 1, name: "Ann", address: { city: "Oslo", geo: { lat: 59.9, lng: 10 } }, tags: ["a", "b"], deep: { a: { b: { c: 1 } } }, score: 1, when: "2024-05-01" },
      { id: 2, name: "Bob", address: { city: "Rome", geo: { lat: 41, lng: 12.5 } }, tags: [], deep: null, score: 2.5, when: "2024-05-02T10:00:00" },
      { id: 3, name: null, address: { city: "Lima" }, score: "n/a" },
    ];
    const r = await parse(JSON.stringify(data, null, 2), "people.json");
    expect(r.format).toBe("json");
    const t = r.schema.tables[0]!;
    expect(t.name).toBe("people");
    expect(t.rowCount).toBe(3);
    expect(cols(t)).toEqual({
      id: "INTEGER", name: "VARCHAR", "address.city": "VARCHAR", "address.geo.lat": "DOUBLE", "address.geo.lng": "DOUBLE",
      tags: "JSON", "deep.a.b": "JSON", score: "VARCHAR", when: "TIMESTAMP",
    });
    expect(t.columns.find((c) => c.name === "name")!.nullable).toBe(true);
    expect(t.columns.find((c) => c.name === "id")!.nullable).toBe(false);
    const page = await query(r.key, { select: ["id", "address.geo.lng", "tags", "deep.a.b", "score", "when"], filters: [{ column: "address.city", op: "!=", value: "Lima" }] });
    expect(page.rows).toEqual([[1, 10, '["a","b"]', '{"c":1}', "1", "2024-05-01T00:00:00"], [2, 12.5, "[]", null, "2.5", "2024-05-02T10:00:00"]]);
  });

  it("json holding one object: format json (not ndjson), one row; an object wrapping one array of objects gives its rows", async () => {
    const one = await parse('{"id": 7, "name": "Ann", "address": {"city": "Oslo"}}\n', "one.json");
    expect(one.format).toBe("json");
    expect(one.schema.tables[0]!.rowCount).toBe(1);
    expect((await query(one.key, {})).rows).toEqual([[7, "Ann", "Oslo"]]);
    const spread = await parse('{\n  "id": 8,\n  "name": "Bob"\n}', "spread.json");
    expect(spread.format).toBe("json");
    expect((await query(spread.key, {})).rows).toEqual([[8, "Bob"]]);
    const wrapped = await parse(JSON.stringify({ data: [{ id: 1 }, { id: 2 }, { id: 3 }] }), "api.json");
    expect(wrapped.format).toBe("json");
    expect(cols(wrapped.schema.tables[0]!)).toEqual({ id: "INTEGER" });
    expect(wrapped.schema.tables[0]!.rowCount).toBe(3);
    // Two objects on two lines are NDJSON whatever the extension.
    expect((await parse('{"a":1}\n{"a":2}\n', "lines.json")).format).toBe("ndjson");
  });

  it("ndjson: line by line, mixed integer/double widened to DOUBLE, anything+string to VARCHAR", async () => {
    const text = ['{"n":1,"s":1,"b":true}', "", '{"n":2.5,"s":"x","b":null}', '{"n":3,"s":false,"big":12345678901234567890}'].join("\n");
    const r = await parse(text, "events.log");
    expect(r.format).toBe("ndjson");
    expect(cols(r.schema.tables[0]!)).toEqual({ n: "DOUBLE", s: "VARCHAR", b: "BOOLEAN", big: "DOUBLE" });
    const page = await query(r.key, {});
    expect(page.rows.map((x) => x.slice(0, 3))).toEqual([[1, "1", true], [2.5, "x", null], [3, "false", null]]);
  });

  it("parquet: types from the footer (INT32, STRING, DOUBLE, INT64 beyond 2^53, TIMESTAMP) read by row group", async () => {
    const r = await parse(parquet(25_000), "measures.bin");
    expect(r.format).toBe("parquet");
    const t = r.schema.tables[0]!;
    expect(cols(t)).toEqual({ id: "INTEGER", grp: "VARCHAR", val: "DOUBLE", big: "BIGINT", ts: "TIMESTAMPTZ" });
    expect(t.rowCount).toBe(25_000);
    const page = await query(r.key, { filters: [{ column: "big", op: "=", value: "9007199254740995" }] });
    expect(page.rows).toEqual([[2, "g2", 1, "9007199254740995", "2024-01-01T00:00:02.000Z"]]);
    // the query above read the table from its LZ4 frames
    const manifest = JSON.parse(await readFile(join(dir, "uploads", `${r.key}.dataset`, "manifest.json"), "utf8")) as { tables: { compression?: string }[] };
    expect(manifest.tables[0]!.compression).toBe("lz4");
  });
});

describe("file values: 64-bit integers as numbers within ±(2^53−1) (API.md Column values)", () => {
  it("csv and parquet BIGINT columns give numbers within the bounds and text beyond, like the databases", async () => {
    const csv = await parse("n\n-9007199254740991\n9007199254740991\n9007199254740993\n-9007199254740992\n5\n", "ints.csv");
    expect(cols(csv.schema.tables[0]!)).toEqual({ n: "BIGINT" });
    expect((await query(csv.key, {})).rows).toEqual([[-9007199254740991], [9007199254740991], ["9007199254740993"], ["-9007199254740992"], [5]]);
    const pq = await parse(Buffer.from(parquetWriteBuffer({ columnData: [{ name: "n", data: [1n, -9_007_199_254_740_991n, 9_007_199_254_740_993n], type: "INT64" }] })), "ints.parquet");
    expect(cols(pq.schema.tables[0]!)).toEqual({ n: "BIGINT" });
    expect((await query(pq.key, {})).rows).toEqual([[1], [-9007199254740991], ["9007199254740993"]]);
    const n = await query(pq.key, { aggregates: [{ fn: "count", as: "n" }] });
    expect(n.rows).toEqual([[3]]);
  });
});

describe("ingestion.parse parquet logical types", () => {
  it("maps DATE, DECIMAL (exact text with its scale), BOOLEAN, JSON, naive TIMESTAMP(MICROS) and FLOAT; nullability from the footer", async () => {
    const r = await parse(parquetTyped(), "typed.parquet");
    const t = r.schema.tables[0]!;
    expect(cols(t)).toEqual({ d: "DATE", dec: "DECIMAL", ok: "BOOLEAN", j: "JSON", ts: "TIMESTAMP", f: "DOUBLE" });
    expect(t.columns.map((c) => c.nullable)).toEqual([true, false, false, true, true, false]);
    const page = await query(r.key, { order_by: [{ column: "dec", desc: true }] });
    expect(page.rows).toEqual([["2024-01-02", "12.34", true, '{"a":1}', "2024-01-02T03:04:05", 1.5], [null, "5.00", false, null, null, 2]]);
    const agg = await query(r.key, { aggregates: [{ fn: "sum", column: "dec", as: "s" }, { fn: "max", column: "d", as: "last" }] });
    expect(agg.columns).toEqual([{ name: "s", type: "DOUBLE" }, { name: "last", type: "DATE" }]);
    expect(agg.rows).toEqual([[17.34, "2024-01-02"]]);
    const f = await query(r.key, { select: ["dec"], filters: [{ column: "dec", op: ">", value: "6" }, { column: "d", op: "=", value: "2024-01-02" }] });
    expect(f.rows).toEqual([["12.34"]]);
  });
});

describe("ingestion.parse refuses broken files with a clear 4xx and leaves nothing", () => {
  it("truncated xlsx", async () => {
    const wb = await workbook();
    const e = await parseError(wb.subarray(0, Math.floor(wb.length / 2)), "cut.xlsx");
    expect(e.code).toBe("PARSE_FAILED");
    expect(e.message).toMatch(/truncated or corrupt/);
  });
  it("zip bomb xlsx (huge declared uncompressed size)", async () => {
    const e = await parseError(declareHuge(await workbook()), "bomb.xlsx");
    expect(e.code).toBe("PARSE_FAILED");
    expect(e.message).toMatch(/looks like a zip bomb/);
  });
  it("xlsx over the cell cap is refused as a zip bomb", async () => {
    const { readXlsx } = await import("./formats/xlsx/index.ts");
    const path = join(dir, "cells.xlsx");
    await (await import("node:fs/promises")).writeFile(path, await workbook());
    await expect(readXlsx(path, { tableName: "x", maxCells: 10 })).rejects.toMatchObject({ code: "PARSE_FAILED", message: expect.stringMatching(/more than 10 cells; the workbook looks like a zip bomb/) });
  });
  it("a truncated JSON object file says it is truncated, with the byte where it ends", async () => {
    const text = '{\n  "a": 1,\n  "b": [1, 2';
    const e = await parseError(text, "obj.json");
    expect(e.code).toBe("PARSE_FAILED");
    expect(e.message).toBe(`The JSON file ends unexpectedly at byte ${text.length} (truncated?); upload the complete file`);
  });
  it("truncated parquet", async () => {
    const p = parquet(100);
    const e = await parseError(p.subarray(0, p.length - 30), "cut.parquet");
    expect(e.code).toBe("PARSE_FAILED");
    expect(e.message).toMatch(/Parquet file is truncated or corrupt/);
  });
  it("invalid JSON names the line", async () => {
    const e = await parseError('[\n{"a": 1},\n{"a": 2,}\n]', "bad.json");
    expect(e.code).toBe("PARSE_FAILED");
    expect(e.message).toMatch(/line 3/);
  });
  it("unclosed JSON array", async () => {
    const e = await parseError('[{"a": 1},\n{"a": 2}', "cut.json");
    expect(e.message).toBe("The JSON file ends unexpectedly at byte 19 on line 2, before the array's closing ] (truncated?); upload the complete file");
    const inside = await parseError('[{"a": 1},\n{"a": "tw', "cut.json");
    expect(inside.message).toMatch(/^The JSON file ends unexpectedly at byte 20 .*\(truncated\?\)/);
  });
  it("invalid NDJSON names the line", async () => {
    const e = await parseError('{"a":1}\n{"a":2}\n{"a":\n', "bad.ndjson");
    expect(e.code).toBe("PARSE_FAILED");
    expect(e.message).toMatch(/line 3/);
  });
  it("empty file", async () => {
    const e = await parseError("", "empty.csv");
    expect(e.code).toBe("PARSE_FAILED");
    expect(e.message).toMatch(/empty/);
  });
  it("a PNG is 415 whatever its name", async () => {
    const e = await parseError(PNG, "data.csv");
    expect(e.code).toBe("UNSUPPORTED_FORMAT");
    expect(e.status).toBe(415);
    expect(e.message).toMatch(/^Unsupported file format: .*PNG.* Supported: CSV\/TSV, XLSX, JSON, NDJSON, Parquet$/);
  });
  it("a key of another tenant is not found", async () => {
    const key = await put("a,b\n1,2\n", "x.csv");
    await expect(bus.request("ingestion.parse", { tenant_id: "other", key, filename: "x.csv", size: 0 })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("ingestion.query on a 100k-row dataset", () => {
  let key: string;
  beforeAll(async () => { key = (await parse(parquet(100_000), "big.parquet")).key; });

  it("filters, orders, offsets and limits", async () => {
    const p = await query(key, { select: ["id", "grp"], filters: [{ column: "grp", op: "in", value: ["g1", "g2"] }, { column: "id", op: "<", value: 100 }], order_by: [{ column: "id", desc: true }], offset: 2, limit: 3 });
    expect(p.columns).toEqual([{ name: "id", type: "INTEGER" }, { name: "grp", type: "VARCHAR" }]);
    expect(p.rows).toEqual([[82, "g2"], [81, "g1"], [72, "g2"]]);
    expect(p.done).toBe(true);
    const c = await query(key, { select: ["grp"], filters: [{ column: "grp", op: "contains", value: "G9" }, { column: "val", op: ">=", value: 49_990 }] });
    expect(c.rows).toEqual([["g9"], ["g9"]]);
    const n = await query(key, { filters: [{ column: "val", op: "is_null" }] });
    expect(n.rows).toEqual([]);
  });

  it("groups with aggregates and orders by an alias", async () => {
    const p = await query(key, {
      group_by: ["grp"],
      aggregates: [{ fn: "count", as: "n" }, { fn: "sum", column: "id", as: "total" }, { fn: "avg", column: "val" }, { fn: "min", column: "ts", as: "first" }, { fn: "max", column: "big", as: "top" }],
      order_by: [{ column: "total", desc: true }], limit: 2,
    });
    expect(p.columns!.map((c) => c.name)).toEqual(["grp", "n", "total", "avg_val", "first", "top"]);
    expect(p.rows[0]).toEqual(["g9", 10_000, 500_040_000, 25_002, "2024-01-01T00:00:09.000Z", (9_007_199_254_740_993n + 99_999n).toString()]);
    expect(p.rows[1]![0]).toBe("g8");
  });

  it("caps at limit with truncated", async () => {
    const p = await query(key, { select: ["id"] }, { limit: 10 });
    expect(p.rows).toHaveLength(10);
    expect(p.truncated).toBe(true);
    expect(p.done).toBe(true);
  });

  it("streams every row through the per-replica cursor, page by page within max_payload", async () => {
    let p = await query(key, { order_by: [{ column: "id" }] }, { stream: true });
    const first = p;
    expect(p.columns).toHaveLength(5);
    expect(p.cursor).toBeDefined();
    let rows = p.rows.length;
    let pages = 1;
    let next = 0;
    const check = (page: typeof p) => { for (const r of page.rows) expect(r[0]).toBe(next++); };
    check(p);
    while (!p.done) {
      p = await bus.request("ingestion.cursor.*", { id: p.cursor!.id }, { subject: p.cursor!.subject });
      expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThan(bus.maxPayload);
      rows += p.rows.length;
      pages++;
      check(p);
    }
    expect(rows).toBe(100_000);
    expect(p.row_count).toBe(100_000);
    expect(pages).toBeGreaterThan(3);
    // A pull after the last page (the gateway keeps two out) is told the result ended, not NOT_FOUND.
    const after = await bus.request("ingestion.cursor.*", { id: first.cursor!.id }, { subject: first.cursor!.subject });
    expect(after).toMatchObject({ rows: [], done: true, row_count: 100_000 });
  });

  it("a closed cursor is gone", async () => {
    const p = await query(key, {}, { stream: true });
    await bus.request("ingestion.cursor.*", { id: p.cursor!.id, action: "close" }, { subject: p.cursor!.subject });
    await expect(bus.request("ingestion.cursor.*", { id: p.cursor!.id }, { subject: p.cursor!.subject })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("unknown column is VALIDATION naming the known columns", async () => {
    await expect(query(key, { filters: [{ column: "nope", op: "=", value: 1 }] })).rejects.toMatchObject({
      code: "VALIDATION", message: 'Unknown column "nope". Known columns: id, grp, val, big, ts',
    });
  });
});

describe("ingestion.discard", () => {
  it("removes the upload and its dataset", async () => {
    const r = await parse('[{"a":1}]', "d.json");
    expect(await store.exists(r.key)).toBe(true);
    expect(await bus.request("ingestion.discard", { tenant_id: tenant, key: r.key })).toEqual({ removed: true });
    const left: string[] = [];
    for await (const o of store.list(r.key)) left.push(o.key);
    expect(left).toEqual([]);
    await expect(query(r.key, {})).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await bus.request("ingestion.discard", { tenant_id: tenant, key: r.key })).toEqual({ removed: false });
  });
});
