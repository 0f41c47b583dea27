import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { parquetMetadata, parquetSchema } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { tableFromIPC } from "@uwdata/flechette";
import type { BlobStore } from "@dsb/storage";
import { slabKind } from "../../dataset/bulk.ts";
import { writeArrowTable } from "../../dataset/write.ts";
import { ChunkDecoder, decodeChunk, divInt64, FAST_ENCODINGS } from "./flat.ts";
import { parquetColumnType, readParquet, readParquetBytes } from "./index.ts";
import { fastPlan } from "./plan.ts";

let dir: string;
let conn: DuckDBConnection;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pq-fast-"));
  conn = await (await DuckDBInstance.create(":memory:", { threads: "1" })).connect();
});
afterAll(() => {
  conn?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

/** Keeps what the writer stores, to read it back. */
function memoryStore(): { store: BlobStore; bytes: () => Uint8Array } {
  let parts: Uint8Array[] = [];
  const store = {
    async put(_key: string, body: AsyncIterable<Uint8Array>) {
      parts = [];
      let size = 0;
      for await (const c of body) { parts.push(c.slice()); size += c.length; }
      return { size };
    },
  } as unknown as BlobStore;
  return { store, bytes: () => Buffer.concat(parts) };
}

/** The dataset of a file as plain values per column, through the columnar path or (rows) the row path; `memory`: read from its bytes, not its path. */
async function dataset(path: string, rows: boolean, memory = false): Promise<{ columns: unknown; values: unknown[][]; batches: number }> {
  // a Buffer, as parseUpload hands over (its slice is a view, not a copy)
  const [table] = memory ? await readParquetBytes(Buffer.concat([Buffer.alloc(7), await readFile(path)]).subarray(7), { tableName: "t" }) : await readParquet(path, { tableName: "t" });
  const { store, bytes } = memoryStore();
  const out = await writeArrowTable(store, "k", rows ? { ...table!, columnar: undefined } : table!);
  const t = tableFromIPC(bytes(), { useBigInt: true });
  return { columns: out.columns, values: t.names.map((n) => t.getChild(n)!.toArray() as unknown as unknown[]).map((a) => Array.from(a)), batches: t.getChild("c0")!.data.length };
}

/** Flat columns the fast decoder takes in every row group (chunks it should take must decode without falling back). */
async function fastColumns(path: string): Promise<string[]> {
  const buf = new Uint8Array(await readFile(path));
  const md = parquetMetadata(buf.buffer);
  const fields = parquetSchema(md).children;
  const slow = new Set<string>();
  for (const g of md.row_groups) {
    g.columns.forEach((c, i) => {
      const f = fields[i]!;
      const type = parquetColumnType(f.element, f.children.length > 0);
      const plan = f.children.length ? null : fastPlan(f.element, type);
      const m = c.meta_data!;
      if (!plan || !m.encodings.every((e) => FAST_ENCODINGS.has(e))) { slow.add(f.element.name); return; }
      const from = Number(m.dictionary_page_offset || m.data_page_offset);
      decodeChunk(buf.subarray(from, from + Number(m.total_compressed_size)), m, plan, slabKind(type), Number(g.num_rows));
    });
  }
  return fields.map((f) => f.element.name).filter((n) => !slow.has(n));
}

const SELECT = `
  select i as id,
    case when i % 7 = 0 then null else (i * 37) % 1000 - 500 end::integer as int32,
    (i * 2654435761)::ubigint % 4294967296 as big,
    (i % 4000000000)::uinteger as u32,
    case when i % 5 = 0 then null else i / 3.0 end::double as dbl,
    (i / 4.0)::float as flt,
    case when i % 11 = 0 then null else 'w' || (i % 13) end as word,
    case i % 4 when 0 then 'naïve ☃' when 1 then '' when 2 then null else 'x' || i end as text,
    case when i % 100 = 0 then repeat('ab', 100 + i % 7) else 's' || (i % 3000) end as long,
    date '1969-12-25' + (i % 50)::integer as day,
    timestamp '1969-12-31 23:59:58.5' + to_microseconds(i * 1234567) as ts,
    (timestamp '2024-01-01' + to_microseconds(i * 1001))::timestamp_ms as ts_ms,
    (timestamp '1950-06-01' + to_microseconds(i * 7))::timestamp_ns as ts_ns,
    (timestamptz '2024-03-01 12:00:00+00' + to_microseconds(i * 999))::timestamptz as tstz,
    time '00:00:01' + to_microseconds(i * 1333) as tod,
    case when i % 3 = 0 then null else i % 2 = 0 end as flag,
    i % 2 = 1 as flag2,
    (i % 1000)::decimal(9, 2) as dec,
    [i, i + 1] as list
  from range(0, 25000) t(i)`;

describe("Parquet fast column decoding", () => {
  it.each([
    ["v1 pages, DuckDB defaults", ""],
    ["v2 pages and delta encodings, small row groups", ", parquet_version v2, row_group_size 3000"],
    ["uncompressed, odd row groups", ", compression uncompressed, row_group_size 777"],
  ])("%s: the columnar dataset equals the row path's, and flat columns take the fast decoder", async (_label, opts) => {
    const path = join(dir, `t${opts.length}.parquet`);
    await conn.run(`copy (${SELECT}) to '${path}' (format parquet${opts})`);
    const fast = await fastColumns(path);
    // v2 writes delta and byte-stream-split encodings, which stay with hyparquet
    if (opts.includes("v2")) expect(fast).toEqual(expect.arrayContaining(["word", "flag", "flag2"]));
    else expect(fast).toEqual(["id", "int32", "big", "u32", "dbl", "flt", "word", "text", "long", "day", "ts", "ts_ms", "ts_ns", "tstz", "tod", "flag", "flag2"]);
    const [a, b] = [await dataset(path, false), await dataset(path, true)];
    expect(a.columns).toEqual(b.columns);
    expect(a.values).toEqual(b.values);
    expect(a.values[0]).toHaveLength(25_000);
    // an upload held in memory reads the same, both ways
    for (const rows of [false, true]) {
      const m = await dataset(path, rows, true);
      expect(m.columns).toEqual(b.columns);
      expect(m.values).toEqual(b.values);
    }
  });

  it("hyparquet-writer files (v2 pages, required and optional, dictionary) read the same both ways", async () => {
    const n = 70_000;
    const path = join(dir, "hw.parquet");
    writeFileSync(path, Buffer.from(parquetWriteBuffer({
      columnData: [
        { name: "i", data: Int32Array.from({ length: n }, (_, i) => i * (i % 2 ? -1 : 1)), type: "INT32" },
        { name: "s", data: Array.from({ length: n }, (_, i) => (i % 9 === 0 ? null : `s${i % 17}`)), type: "STRING" },
        { name: "b", data: Array.from({ length: n }, (_, i) => (i % 10 === 0 ? null : i % 3 === 0)), type: "BOOLEAN" },
        { name: "t", data: Array.from({ length: n }, (_, i) => new Date(Date.UTC(2020, 0, 1) + i * 60_000)), type: "TIMESTAMP" },
      ],
      rowGroupSize: 30_000,
    })));
    expect(await fastColumns(path)).toEqual(["i", "s", "b", "t"]);
    const [a, b] = [await dataset(path, false), await dataset(path, true)];
    expect(a.values).toEqual(b.values);
    expect(a.columns).toEqual(b.columns);
  });

  it("one row group of many small pages is read page by page across batches, as the row path reads it", async () => {
    const n = 150_000;
    const path = join(dir, "pages.parquet");
    writeFileSync(path, Buffer.from(parquetWriteBuffer({
      columnData: [
        { name: "i", data: Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : BigInt(i) * 3n)), type: "INT64" },
        { name: "s", data: Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : `v${i % 5000}`)), type: "STRING" },
        { name: "b", data: Array.from({ length: n }, (_, i) => i % 3 === 0), type: "BOOLEAN" },
        { name: "d", data: Float64Array.from({ length: n }, (_, i) => i / 7) },
      ],
      rowGroupSize: n,
      pageSize: 20_000,
    })));
    const buf = new Uint8Array(await readFile(path));
    const md = parquetMetadata(buf.buffer);
    expect(md.row_groups).toHaveLength(1);
    expect(await fastColumns(path)).toEqual(["i", "s", "b", "d"]);
    const [a, b] = [await dataset(path, false), await dataset(path, true)];
    expect(a.batches).toBeGreaterThanOrEqual(3);
    expect(a.values).toEqual(b.values);
    expect(a.columns).toEqual(b.columns);
  });

  it("a refilled batch keeps nothing of the one before (true bits, present values and long strings of the first)", async () => {
    const n = 150_000;
    const first = 70_000; // past the first batch of 65,536 rows
    const path = join(dir, "refill.parquet");
    writeFileSync(path, Buffer.from(parquetWriteBuffer({
      columnData: [
        { name: "s", data: Array.from({ length: n }, (_, i) => (i < first ? `${"long".repeat(20)}${i}` : i % 5 === 0 ? null : `v${i}`)), type: "STRING" },
        { name: "b", data: Array.from({ length: n }, (_, i) => i < first), type: "BOOLEAN" },
        { name: "k", data: Array.from({ length: n }, (_, i) => (i >= first && i % 3 === 0 ? null : BigInt(i))), type: "INT64" },
      ],
      // odd row groups: appends start and end inside bitmap bytes
      rowGroupSize: 39_999,
    })));
    expect(await fastColumns(path)).toEqual(["s", "b", "k"]);
    const [a, b] = [await dataset(path, false), await dataset(path, true)];
    expect(a.batches).toBeGreaterThanOrEqual(3);
    expect(a.values).toEqual(b.values);
    expect(a.values[0]!.slice(-1)).toEqual([`v${n - 1}`]);
    expect(a.values[1]!.filter(Boolean)).toHaveLength(first);
    expect(a.values[2]!.filter((v) => v === null)).toHaveLength(Math.floor((n - 1) / 3) - Math.floor((first - 1) / 3));
  });

  it("a file read after another of the same shape (whose buffers it reuses) keeps nothing of the first", async () => {
    const write = (path: string, n: number, first: boolean) => writeFileSync(path, Buffer.from(parquetWriteBuffer({
      columnData: [
        { name: "s", data: Array.from({ length: n }, (_, i) => (first ? `${"first".repeat(9)}${i % 50}` : i % 4 === 0 ? null : `b${i % 7}`)), type: "STRING" },
        { name: "b", data: Array.from({ length: n }, (_, i) => (first ? true : i % 3 === 0 ? null : false)), type: "BOOLEAN" },
        { name: "k", data: Array.from({ length: n }, (_, i) => (first || i % 5 ? BigInt(first ? i * 1000 : i) : null)), type: "INT64" },
      ],
      rowGroupSize: first ? 50_000 : 9_999,
    })));
    const [a, b] = [join(dir, "same-a.parquet"), join(dir, "same-b.parquet")];
    write(a, 150_000, true);
    write(b, 70_001, false);
    await dataset(a, false);
    const [fast, rows] = [await dataset(b, false), await dataset(b, true)];
    expect(fast.values).toEqual(rows.values);
    expect(fast.values[0]!.slice(0, 3)).toEqual([null, "b1", "b2"]);
    expect(fast.values[1]!.filter((v) => v === true)).toEqual([]);
    expect(fast.values[0]).toHaveLength(70_001);
  });

  it("a decoder's page buffers take pages a few rows longer than the first without growing again", async () => {
    const chunkOf = (n: number) => {
      const buf = parquetWriteBuffer({ columnData: [{ name: "k", data: Array.from({ length: n }, (_, i) => BigInt(i)), type: "INT64", encoding: "PLAIN" }], rowGroupSize: n });
      const md = parquetMetadata(buf);
      const m = md.row_groups[0]!.columns[0]!.meta_data!;
      const from = Number(m.dictionary_page_offset || m.data_page_offset);
      return { bytes: new Uint8Array(buf, from, Number(m.total_compressed_size)), m, n: Number(md.row_groups[0]!.num_rows) };
    };
    const el = parquetSchema(parquetMetadata(parquetWriteBuffer({ columnData: [{ name: "k", data: [1n], type: "INT64" }] }))).children[0]!.element;
    const plan = fastPlan(el, "bigint")!;
    const dec = new ChunkDecoder(plan, 8);
    const first = chunkOf(10_000);
    decodeChunk(first.bytes, first.m, plan, 8, first.n, dec);
    const held = dec.held;
    expect(first.n).toBe(10_000);
    for (const n of [10_001, 10_500, 11_000]) {
      const c = chunkOf(n);
      decodeChunk(c.bytes, c.m, plan, 8, c.n, dec);
    }
    expect(dec.held).toBe(held);
  });

  it("dictionary strings of 8+ bytes (copied four bytes at a time): odd lengths, multi-byte characters, nulls", async () => {
    const path = join(dir, "dict-words.parquet");
    await conn.run(`copy (select case when i % 6 = 0 then null else 'entry-' || (i % 40) || repeat('é', i % 3) || repeat('x', i % 5) end as s
      from range(0, 30000) t(i)) to '${path}' (format parquet)`);
    expect(await fastColumns(path)).toEqual(["s"]);
    const meta = parquetMetadata(new Uint8Array(await readFile(path)).buffer).row_groups[0]!.columns[0]!.meta_data!;
    expect(meta.encodings.some((e) => e.endsWith("DICTIONARY"))).toBe(true);
    const [a, b] = [await dataset(path, false), await dataset(path, true)];
    expect(a.values).toEqual(b.values);
    expect(a.values[0]!.slice(0, 3)).toEqual([null, "entry-1éx", "entry-2ééxx"]);
  });

  it("strings that are not plain UTF-8 come out as the slow path's TextDecoder made them (U+FFFD, BOM dropped)", async () => {
    const path = join(dir, "bad-utf8.parquet");
    writeFileSync(path, Buffer.from(parquetWriteBuffer({
      columnData: [{ name: "s", data: [new Uint8Array([0x61, 0xff, 0x62]), new Uint8Array([0xef, 0xbb, 0xbf, 0x78]), new TextEncoder().encode("ok ✓"), null] }],
      schema: [{ name: "root", num_children: 1 }, { name: "s", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" }],
    })));
    expect(await fastColumns(path)).toEqual(["s"]);
    const a = await dataset(path, false);
    expect(a.values).toEqual([["a\uFFFDb", "x", "ok ✓", null]]);
    expect(a.values).toEqual((await dataset(path, true)).values);
  });

  it("a column chunk with garbage inside is PARSE_FAILED (the fast decoder leaves it to hyparquet, which refuses it)", async () => {
    const path = join(dir, "garbage.parquet");
    await conn.run(`copy (select i, i * 2 as j from range(0, 50000) t(i)) to '${path}' (format parquet)`);
    const buf = new Uint8Array(await readFile(path));
    const meta = parquetMetadata(buf.buffer).row_groups[0]!.columns[0]!.meta_data!;
    const from = Number(meta.data_page_offset);
    buf.fill(0xfe, from + 40, from + Number(meta.total_compressed_size) - 8);
    writeFileSync(path, buf);
    await expect(dataset(path, false)).rejects.toMatchObject({ code: "PARSE_FAILED", message: expect.stringMatching(/truncated or corrupt/) });
    await expect(dataset(path, false, true)).rejects.toMatchObject({ code: "PARSE_FAILED", message: expect.stringMatching(/truncated or corrupt/) });
    // cut short: the footer is gone
    writeFileSync(path, buf.subarray(0, buf.length - 100));
    await expect(dataset(path, false, true)).rejects.toMatchObject({ code: "PARSE_FAILED", message: expect.stringMatching(/truncated or corrupt/) });
  });

  it("batches stay within the batch size across row groups that do not line up with them", async () => {
    const path = join(dir, "many.parquet");
    await conn.run(`copy (select i, 'v' || i as s from range(0, 200000) t(i)) to '${path}' (format parquet, row_group_size 50000)`);
    const a = await dataset(path, false);
    expect(a.values[0]).toHaveLength(200_000);
    expect(a.values[0]!.slice(-2)).toEqual([199_998n, 199_999n]);
    expect(a.values[1]!.slice(-1)).toEqual(["v199999"]);
    expect(a.batches).toBeGreaterThanOrEqual(4);
  });
});

describe("divInt64", () => {
  it("is Number(v / BigInt(d)) for values around the exact-double limits and zero", () => {
    const edge = [0n, 1n, -1n, 999n, -999n, 1000n, -1000n, 1001n, -1001n, 2n ** 52n - 1n, -(2n ** 52n), 2n ** 52n, 2n ** 53n + 7n, -(2n ** 53n) - 7n, 2n ** 63n - 1n, -(2n ** 63n), 1_700_000_000_123_456n, -86_400_000_001n];
    let seed = 3n;
    for (let i = 0; i < 500; i++) { seed = (seed * 6364136223846793005n + 1442695040888963407n) & (2n ** 64n - 1n); edge.push(BigInt.asIntN(64, seed) >> BigInt(i % 40)); }
    for (const v of edge) {
      const lo = Number(BigInt.asIntN(32, v));
      const hi = Number(BigInt.asIntN(32, v >> 32n));
      for (const d of [1000, 1_000_000]) expect([v, d, divInt64(lo, hi, d)]).toEqual([v, d, Number(v / BigInt(d))]);
    }
  });
});
