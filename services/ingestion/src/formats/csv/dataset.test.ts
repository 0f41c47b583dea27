import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromIPC } from "@uwdata/flechette";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import { FsBlobStore } from "@dsb/storage";
import { parseUpload } from "../../parse.ts";
import { ipcOf } from "../../query/load.ts";
import { GUESS_BYTES } from "./index.ts";

/*
 * The dataset writer reads CSV in one pass with types guessed from the first
 * GUESS_BYTES; these files contradict the guess after that point, so the
 * result must still be the whole-file inference.
 */
/** The directory store, counting the local copies a parse asks for (a reread of the whole file). */
class CountingStore extends FsBlobStore {
  locals = 0;
  override toLocalFile(key: string): ReturnType<FsBlobStore["toLocalFile"]> {
    this.locals++;
    return super.toLocalFile(key);
  }
}

let dir: string;
let store: CountingStore;
let seq = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "csv-dataset-"));
  store = new CountingStore(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A header and `rows()` rows of about 30 bytes each, enough to pass GUESS_BYTES, then `tail`. */
function bigCsv(row: (i: number) => string, tail: string | Buffer, size = GUESS_BYTES * 1.5): Buffer {
  const lines = ["id,n,t"];
  let bytes = 0;
  for (let i = 1; bytes < size; i++) {
    const l = row(i);
    lines.push(l);
    bytes += l.length + 1;
  }
  return Buffer.concat([Buffer.from(lines.join("\n") + "\n"), Buffer.from(tail)]);
}

async function ingest(content: Buffer): Promise<{ types: Record<string, string>; columns: Record<string, unknown[]>; key: string }> {
  const key = `t/${++seq}/f.csv`;
  await store.put(key, (async function* () { yield content; })(), { maxBytes: 1e9 });
  const res = await parseUpload(store, key, "f.csv");
  const table = res.schema.tables[0]!;
  const types = Object.fromEntries(table.columns.map((c) => [c.name, c.type]));
  const manifest = JSON.parse(await readFile(join(dir, `${key}.dataset`, "manifest.json"), "utf8")) as { tables: { compression?: "lz4" }[] };
  const arrow = tableFromIPC(ipcOf(await readFile(join(dir, `${key}.dataset`, "t0.arrow")), manifest.tables[0]!), { useBigInt: true });
  const columns: Record<string, unknown[]> = {};
  table.columns.forEach((c, i) => { columns[c.name] = arrow.getChild(`c${i}`)!.toArray() as unknown[]; });
  expect(res.row_count).toBe(arrow.numRows);
  return { types, columns, key };
}

describe("CSV dataset in one pass", () => {
  it("keeps the guessed types when the whole file agrees", async () => {
    const before = store.locals;
    const { types, columns } = await ingest(bigCsv((i) => `${i},${i % 10 === 0 ? "" : `${i % 7}.5`},word ${i}`, "999999,1.25,last\n", GUESS_BYTES * 7));
    expect(store.locals).toBe(before);
    expect(types).toEqual({ id: "INTEGER", n: "DOUBLE", t: "VARCHAR" });
    // CSV integers fit 32 bits: stored as int32, read back as numbers.
    expect(columns.id!.at(-1)).toBe(999999);
    expect(columns.n!.at(-1)).toBe(1.25);
    expect(columns.t!.at(-1)).toBe("last");
    expect(columns.t![0]).toBe("word 1");
    // Several record batches (their builders are reused): every value checked.
    expect(columns.id!.length).toBeGreaterThan(4 * 65_536);
    columns.id!.slice(0, -1).forEach((v, i) => {
      const n = (i + 1) % 10 === 0 ? null : ((i + 1) % 7) + 0.5;
      if (v !== i + 1 || columns.n![i] !== n || columns.t![i] !== `word ${i + 1}`) {
        expect([v, columns.n![i], columns.t![i]]).toEqual([i + 1, n, `word ${i + 1}`]);
      }
    });
  });

  it("widens a column when a value after the guessed part contradicts it", async () => {
    const { types, columns } = await ingest(bigCsv((i) => `${i},${i},x`, "0,oops,y\n1,2,z\n"));
    expect(types).toEqual({ id: "INTEGER", n: "VARCHAR", t: "VARCHAR" });
    expect(columns.n![0]).toBe("1");
    expect(columns.n!.at(-2)).toBe("oops");
    expect(columns.n!.at(-1)).toBe("2");
  });

  it("types a column that is empty in the guessed part from its later values", async () => {
    const { types, columns } = await ingest(bigCsv((i) => `${i},,x`, "0,2024-01-02,y\n"));
    expect(types.n).toBe("DATE");
    expect(columns.n![0]).toBe(null);
    expect(columns.n!.at(-1)).toBe(Date.UTC(2024, 0, 2));
  });

  it("falls back to windows-1252 when invalid UTF-8 comes after the guessed part", async () => {
    const { types, columns } = await ingest(bigCsv((i) => `${i},${i},plain`, Buffer.from([0x30, 0x2c, 0x31, 0x2c, 0x63, 0x61, 0x66, 0xe9, 0x0a])));
    expect(types.t).toBe("VARCHAR");
    expect(columns.t!.at(-1)).toBe("café");
  });

  it("rereads with the dialect of the whole file when the head alone suggests another", async () => {
    // "i;i,a" splits in two on "," and on ";" (a tie the head settles as ","); the rest only splits on ";".
    const lines = ["a;b,c"];
    let bytes = 0;
    let i = 0;
    for (; bytes < GUESS_BYTES * 1.5; i++) { const l = `${i};${i},x`; lines.push(l); bytes += l.length + 1; }
    for (bytes = 0; bytes < GUESS_BYTES * 1.5; i++) { const l = `${i};${i}`; lines.push(l); bytes += l.length + 1; }
    const { types, columns } = await ingest(Buffer.from(lines.join("\n") + "\n"));
    expect(types).toEqual({ a: "INTEGER", "b,c": "VARCHAR" });
    expect(columns.a!.length).toBe(i);
    expect(columns["b,c"]![0]).toBe("0,x");
    expect(columns["b,c"]!.at(-1)).toBe(String(i - 1));
  });

  it("reads quotes that begin after the sniffed head in the same single pass (no reread)", async () => {
    // As spreadsheets export: no quote for the first MiB, then quoted delimiters, doubled quotes, quoted LF and CRLF, empty fields.
    const quoted = ['"a, b"', '"say ""hi"""', '"one\ntwo"', '"x\r\n""y"" z"', "", "plain"];
    const tail = Array.from({ length: 60_000 }, (_, i) => `${i},${i % 5 === 0 ? "" : i % 3},${quoted[i % quoted.length]}`).join("\n") + "\n";
    const before = store.locals;
    const { types, columns } = await ingest(bigCsv((i) => `${i},${i % 3},word ${i}`, tail));
    expect(store.locals).toBe(before);
    expect(types).toEqual({ id: "INTEGER", n: "INTEGER", t: "VARCHAR" });
    const t = columns.t!.slice(-60_000);
    expect(t.slice(0, 6)).toEqual(["a, b", 'say "hi"', "one\ntwo", 'x\r\n"y" z', null, "plain"]);
    expect(t.at(-1)).toBe(["a, b", 'say "hi"', "one\ntwo", 'x\r\n"y" z', null, "plain"][59_999 % 6]);
    expect(columns.n!.at(-5)).toBe(null);
  });

  it("rereads without a quote when the whole file says fields beginning with one are not quoted", async () => {
    // Inch marks: with `"` as the quote these rows would not split into three fields; the whole-file sniff picks no quote.
    const tail = Array.from({ length: 80_000 }, (_, i) => `${i},"${i % 9} inch,y`).join("\n") + "\n";
    const before = store.locals;
    const { types, columns } = await ingest(bigCsv((i) => `${i},${i},x`, tail));
    expect(store.locals).toBe(before + 1);
    expect(types).toEqual({ id: "INTEGER", n: "VARCHAR", t: "VARCHAR" });
    expect(columns.n!.at(-1)).toBe('"7 inch');
    expect(columns.t!.at(-1)).toBe("y");
  });

  it("refuses a ragged row after the guessed part with its line, leaving no dataset", async () => {
    const content = bigCsv((i) => `${i},${i},x`, "1,2\n");
    const key = `t/${++seq}/f.csv`;
    await store.put(key, (async function* () { yield content; })(), { maxBytes: 1e9 });
    const err = await parseUpload(store, key, "f.csv").then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("PARSE_FAILED");
    const lines = content.toString("latin1").split("\n").length - 1;
    expect((err as AppError).details).toMatchObject({ line: lines, fields: 2, expected: 3 });
    const left: string[] = [];
    for await (const o of store.list(`${key}.dataset/`)) left.push(o.key);
    expect(left).toEqual([]);
  });
});
