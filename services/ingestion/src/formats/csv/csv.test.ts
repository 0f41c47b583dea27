import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import type { ParsedColumn } from "../../dataset/table.ts";
import { CSV_BATCH_ROWS, inferCsv, looksLikeDelimitedText, readCsvDataset } from "./index.ts";
import type { Column } from "@uwdata/flechette";
import { batchBuilders } from "../../dataset/columns.ts";
import { daysFromCivil } from "./convert.ts";
import { daysInMonth } from "./infer.ts";
import { toArrow, writeArrowTable } from "../../dataset/write.ts";
import { FsBlobStore } from "@dsb/storage";

let dir: string;
let seq = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "csv-reader-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(content: string | Uint8Array): Promise<string> {
  const path = join(dir, `f${++seq}.csv`);
  await writeFile(path, content);
  return path;
}

/**
 * A file through the reader the service uses. Past GUESS_BYTES its columns are
 * a guess until the dataset writer has run: the columns are then the writer's.
 */
async function read(content: string | Uint8Array): Promise<{ columns: ParsedColumn[]; rows: unknown[][]; rowCount: number | null }> {
  const [table] = await readCsvDataset(await file(content), { tableName: "t" });
  const rows: unknown[][] = [];
  for await (const batch of table!.rows()) rows.push(...batch);
  if (table!.rowCount !== null) return { columns: table!.columns, rows, rowCount: table!.rowCount };
  const written = await writeArrowTable(new FsBlobStore(dir), `w${++seq}`, table!);
  return { columns: written.columns, rows, rowCount: written.rowCount };
}

const types = (cols: ParsedColumn[]): string[] => cols.map((c) => `${c.name}:${c.type}`);

async function parseError(content: string | Uint8Array): Promise<AppError> {
  const err = await read(content).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe("PARSE_FAILED");
  return err as AppError;
}

describe("dialect", () => {
  it.each([",", ";", "\t", "|"])("reads a file delimited by %j", async (d) => {
    const { columns, rows } = await read(["id", "name", "score"].join(d) + "\n" + ["1", "Ann", "2.5"].join(d) + "\n" + ["2", "Bob", "3"].join(d) + "\n");
    expect(types(columns)).toEqual(["id:integer", "name:string", "score:double"]);
    expect(rows).toEqual([[1, "Ann", 2.5], [2, "Bob", 3]]);
  });

  it("keeps delimiters, doubled quotes and newlines inside quoted fields", async () => {
    const { columns, rows } = await read('id,text\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,"crlf\r\ninside"\n');
    expect(types(columns)).toEqual(["id:integer", "text:string"]);
    expect(rows.map((r) => r[1])).toEqual(["a, b", 'say "hi"', "two\nlines", "crlf\r\ninside"]);
  });

  it("reads CRLF and CR-only line endings", async () => {
    const crlf = await read("a,b\r\n1,x\r\n2,y\r\n");
    expect(crlf.rows).toEqual([[1, "x"], [2, "y"]]);
    const cr = await read("a,b\r1,x\r2,y\r");
    expect(cr.rows).toEqual([[1, "x"], [2, "y"]]);
  });

  it("understands backslash-escaped quotes", async () => {
    const { rows } = await read('id,text\n1,"say \\"hi\\", then go"\n2,"plain"\n');
    expect(rows).toEqual([[1, 'say "hi", then go'], [2, "plain"]]);
  });

  it("uses single quotes as the quote character when they explain the rows", async () => {
    const { rows } = await read("id,name\n1,'Lee, Ann'\n2,'Ray, Bob'\n3,Eve\n");
    expect(rows).toEqual([[1, "Lee, Ann"], [2, "Ray, Bob"], [3, "Eve"]]);
  });

  it("reads a single-column file", async () => {
    const { columns, rows } = await read("city\nParis\nLyon\n");
    expect(types(columns)).toEqual(["city:string"]);
    expect(rows).toEqual([["Paris"], ["Lyon"]]);
  });

  it("sniffs the dialect from the middle and end of the file, not only the first rows", async () => {
    // The first 300 KB split the same way with "," and ";"; only later rows show that ";" is the delimiter.
    const early = "p,q;r\n".repeat(60_000);
    const late = "s;t,u,v\n".repeat(60_000);
    const inf = await inferCsv(await file("left;right\n" + early + late));
    expect(inf.dialect.delimiter).toBe(";");
    expect(inf.skipRows).toBe(0);
    expect(inf.columns.map((c) => c.name)).toEqual(["left", "right"]);
    expect(inf.rowCount).toBe(120_000);
  });
});

describe("encodings", () => {
  it("drops a UTF-8 byte-order mark", async () => {
    const { columns, rows } = await read("\uFEFFname,n\ncafé,1\n");
    expect(types(columns)).toEqual(["name:string", "n:integer"]);
    expect(rows).toEqual([["café", 1]]);
  });

  it("reads UTF-16LE and UTF-16BE files with a BOM", async () => {
    const text = "\uFEFFname;n\ncafé;1\nñandú;2\n";
    const le = Buffer.from(text, "utf16le");
    expect((await read(le)).rows).toEqual([["café", 1], ["ñandú", 2]]);
    const be = Buffer.from(le).swap16();
    const { columns, rows } = await read(be);
    expect(types(columns)).toEqual(["name:string", "n:integer"]);
    expect(rows).toEqual([["café", 1], ["ñandú", 2]]);
  });

  it("falls back to Latin-1 / Windows-1252 when the bytes are not UTF-8", async () => {
    const { rows } = await read(Buffer.from("name,price\ncaf\xe9,2\nna\xefve,3\n", "latin1"));
    expect(rows).toEqual([["café", 2], ["naïve", 3]]);
  });

  it("falls back to Windows-1252 when the invalid byte comes after the sampled places", async () => {
    const ascii = Buffer.from("name,n\n" + "plain,1\n".repeat(40_000));
    const late = Buffer.from("x\xe9,2\n" + "plain,1\n".repeat(40_000), "latin1");
    const { rows } = await read(Buffer.concat([ascii, late]));
    expect(rows[40_000]).toEqual(["xé", 2]);
  });
});

describe("header", () => {
  it("generates names when the first row is data (all numeric)", async () => {
    const { columns, rows } = await read("1,2.5,3\n4,5.5,6\n");
    expect(types(columns)).toEqual(["column0:integer", "column1:double", "column2:integer"]);
    expect(rows).toEqual([[1, 2.5, 3], [4, 5.5, 6]]);
  });

  it("makes duplicate and blank header names unique", async () => {
    const { columns, rows } = await read("a,a,,b,a\n1,2,3,4,5\n");
    expect(columns.map((c) => c.name)).toEqual(["a", "a_1", "column_2", "b", "a_2"]);
    expect(rows).toEqual([[1, 2, 3, 4, 5]]);
  });

  it("treats a row of unique words over text columns as a header", async () => {
    const { columns, rows } = await read("first,last\nAnn,Lee\nBob,Ray\n");
    expect(columns.map((c) => c.name)).toEqual(["first", "last"]);
    expect(rows).toHaveLength(2);
  });

  it("skips one-field title lines above the header", async () => {
    const { columns, rows } = await read("Sales report\n# exported 2024-05-01\nregion;amount\nNorth;10\nSouth;12\n");
    expect(types(columns)).toEqual(["region:string", "amount:integer"]);
    expect(rows).toEqual([["North", 10], ["South", 12]]);
  });

  it("reads a header-only file as a table with 0 rows and string columns", async () => {
    const { columns, rows, rowCount } = await read("id,name,amount\n");
    expect(types(columns)).toEqual(["id:string", "name:string", "amount:string"]);
    expect(rows).toEqual([]);
    expect(rowCount).toBe(0);
  });
});

describe("errors", () => {
  it("rejects an empty file", async () => {
    expect((await parseError("")).message).toMatch(/^The file is empty/);
    expect((await parseError("\n\n")).message).toMatch(/^The file is empty/);
  });

  it("names the line of a ragged row", async () => {
    const lines = ["a,b,c,d"];
    for (let i = 2; i <= 16; i++) lines.push(`${i},x,y,z`);
    lines.push("17,x,y,z,extra");
    lines.push("18,x,y,z");
    const err = await parseError(lines.join("\n") + "\n");
    expect(err.message).toBe("Line 17 has 5 fields but the header has 4. Fix the row or quote fields that contain the delimiter");
  });

  it("counts newlines inside quoted fields in the line number", async () => {
    const err = await parseError('a,b\n1,"two\nlines"\n2,x\n3,x,oops\n');
    expect(err.message).toMatch(/^Line 5 has 3 fields but the header has 2/);
  });

  it("accepts trailing empty lines and a missing final newline", async () => {
    expect((await read("a,b\n1,x\n\n\n")).rows).toEqual([[1, "x"]]);
    expect((await read("a,b\n1,x")).rows).toEqual([[1, "x"]]);
  });

  it("reports a quote that is never closed", async () => {
    const err = await parseError('a,b\n1,"x, y"\n2,"p, q"\n3,"never closed\n4,y\n');
    expect(err.message).toMatch(/^Line 4 has a quoted field that is never closed/);
  });
});

describe("types", () => {
  it("infers every scalar type", async () => {
    const csv = [
      "b,i,big,d,dec,day,ts,tz,t,s",
      "true,1,3000000000,1.5,1.123456789012345678,2024-01-31,2024-01-31 10:00,2024-01-31T10:00:00Z,10:30,x",
      "F,-2,-4,1e3,2,2024-02-29,2024-02-01T23:59:59.123,2024-01-31T23:30:00+02:00,23:59:59.5,y",
    ].join("\n");
    const { columns, rows } = await read(csv);
    expect(types(columns)).toEqual([
      "b:boolean", "i:integer", "big:bigint", "d:double", "dec:decimal", "day:date", "ts:timestamp", "tz:timestamptz", "t:time", "s:string",
    ]);
    expect(rows[0]).toEqual([true, 1, 3000000000n, 1.5, "1.123456789012345678", "2024-01-31", "2024-01-31T10:00:00", "2024-01-31T10:00:00Z", "10:30:00", "x"]);
    expect(rows[1]).toEqual([false, -2, -4n, 1000, "2", "2024-02-29", "2024-02-01T23:59:59.123", "2024-01-31T21:30:00Z", "23:59:59.5", "y"]);
  });

  it("keeps numbers with leading zeros and thousands separators as strings", async () => {
    const { columns, rows } = await read('zip,code,amount\n01234,007,"1,000"\n99999,123,"2,500"\n');
    expect(types(columns)).toEqual(["zip:string", "code:string", "amount:string"]);
    expect(rows).toEqual([["01234", "007", "1,000"], ["99999", "123", "2,500"]]);
  });

  it("resolves day-first dates from a later row, and reads all-ambiguous dates month-first", async () => {
    const dayFirst = await read("d\n01/02/2024\n05/06/2024\n25/12/2024\n");
    expect(types(dayFirst.columns)).toEqual(["d:date"]);
    expect(dayFirst.rows).toEqual([["2024-02-01"], ["2024-06-05"], ["2024-12-25"]]);
    const ambiguous = await read("d\n01/02/2024\n05/06/2024\n");
    expect(ambiguous.rows).toEqual([["2024-01-02"], ["2024-05-06"]]);
    const monthFirst = await read("d\n01/02/2024\n12/31/2024\n");
    expect(monthFirst.rows).toEqual([["2024-01-02"], ["2024-12-31"]]);
  });

  it("widens a column when a value at row 100,000 contradicts it, without corrupting values", async () => {
    const lines = ["id,v"];
    for (let i = 1; i < 100_000; i++) lines.push(`${i},${i}`);
    lines.push("100000,oops");
    lines.push("100001,100001");
    const { columns, rows } = await read(lines.join("\n") + "\n");
    expect(types(columns)).toEqual(["id:integer", "v:string"]);
    expect(rows).toHaveLength(100_001);
    expect(rows[0]).toEqual([1, "1"]);
    expect(rows[99_999]).toEqual([100000, "oops"]);
    expect(rows[100_000]).toEqual([100001, "100001"]);
  });

  it("widens integer → bigint → double/decimal and date → timestamp", async () => {
    const { columns, rows } = await read("a,b,c,d\n1,1,1,2024-01-01\n3000000000,2.5,12345678901234567890,2024-01-02 03:04:05\n");
    expect(types(columns)).toEqual(["a:bigint", "b:double", "c:decimal", "d:timestamp"]);
    expect(rows).toEqual([
      [1n, 1, "1", "2024-01-01T00:00:00"],
      [3000000000n, 2.5, "12345678901234567890", "2024-01-02T03:04:05"],
    ]);
  });

  it("preserves integers beyond 2^53 exactly as bigint", async () => {
    const { columns, rows } = await read("n\n9007199254740993\n-9223372036854775808\n9223372036854775807\n");
    expect(types(columns)).toEqual(["n:bigint"]);
    expect(rows).toEqual([[9007199254740993n], [-9223372036854775808n], [9223372036854775807n]]);
  });

  it("converts timestamps with a zone to UTC", async () => {
    const { columns, rows } = await read("at\n2024-03-01T00:30:00+01:00\n2024-12-31 23:00:00-05:00\n2024-06-01T12:00:00.250Z\n2024-06-01T12:00+0530\n");
    expect(types(columns)).toEqual(["at:timestamptz"]);
    expect(rows).toEqual([["2024-02-29T23:30:00Z"], ["2025-01-01T04:00:00Z"], ["2024-06-01T12:00:00.250Z"], ["2024-06-01T06:30:00Z"]]);
  });

  it("reads null markers as nulls and marks the column nullable", async () => {
    const { columns, rows } = await read("a,b,c\n1,x,\nNULL,null,2\nNA,N/A,n/a\nNone,y,3\n");
    expect(columns).toEqual([
      { name: "a", type: "integer", nullable: true },
      { name: "b", type: "string", nullable: true },
      { name: "c", type: "integer", nullable: true },
    ]);
    expect(rows).toEqual([[1, "x", null], [null, null, 2], [null, null, null], [null, "y", 3]]);
  });

  it("reads an all-null column as a nullable string", async () => {
    const { columns } = await read("a,b\n1,\n2,\n");
    expect(columns[1]).toEqual({ name: "b", type: "string", nullable: true });
  });

  it("reads day-first timestamps, one-digit hours, and NaN/Infinity in double columns", async () => {
    const { columns, rows } = await read("at,t,x\n31.12.2024 9:05,9:30,1.5\n01.02.2024 23:59:59,12:00:01.25,NaN\n,,-Infinity\n");
    expect(types(columns)).toEqual(["at:timestamp", "t:time", "x:double"]);
    expect(rows).toEqual([
      ["2024-12-31T09:05:00", "09:30:00", 1.5],
      ["2024-02-01T23:59:59", "12:00:01.25", Number.NaN],
      [null, null, Number.NEGATIVE_INFINITY],
    ]);
  });

  it("keeps 16–17 digit decimals as double only when the double prints the same text", async () => {
    const { columns, rows } = await read("a,b\n1234.5600000000002,0.10000000000000001\n2.5,2.5\n");
    expect(types(columns)).toEqual(["a:double", "b:decimal"]);
    expect(rows).toEqual([[1234.5600000000002, "0.10000000000000001"], [2.5, "2.5"]]);
  });

  it("reads 0/1 as integers, not booleans", async () => {
    const { columns } = await read("flag\n0\n1\n");
    expect(types(columns)).toEqual(["flag:integer"]);
  });
});

describe("streaming", () => {
  it("yields batches of at most CSV_BATCH_ROWS rows in file order, and rows() can run twice", async () => {
    const lines = ["n"];
    for (let i = 0; i < 20_000; i++) lines.push(String(i));
    const [table] = await readCsvDataset(await file(lines.join("\n")), { tableName: "numbers" });
    expect(table!.name).toBe("numbers");
    expect(table!.rowCount).toBe(20_000);
    for (let pass = 0; pass < 2; pass++) {
      const sizes: number[] = [];
      let next = 0;
      for await (const batch of table!.rows()) {
        sizes.push(batch.length);
        for (const row of batch) expect(row[0]).toBe(next++);
      }
      expect(Math.max(...sizes)).toBeLessThanOrEqual(CSV_BATCH_ROWS);
      expect(next).toBe(20_000);
    }
  });

  it("refuses a file with more cells than maxCells", async () => {
    const err = await readCsvDataset(await file("a,b\n1,2\n3,4\n5,6\n"), { tableName: "t", maxCells: 4 }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("PARSE_FAILED");
    expect((err as AppError).message).toMatch(/more than 4 cells/);
  });
});

describe("looksLikeDelimitedText", () => {
  const bytes = (s: string): Uint8Array => Buffer.from(s, "latin1");
  it("accepts delimited text in the supported encodings", () => {
    expect(looksLikeDelimitedText(bytes("a,b\n1,2\n"))).toBe(true);
    expect(looksLikeDelimitedText(bytes("caf\xe9;1\n"))).toBe(true);
    expect(looksLikeDelimitedText(Buffer.from("\uFEFFa\tb\n1\t2\n", "utf16le"))).toBe(true);
  });
  it("rejects binary formats and JSON", () => {
    expect(looksLikeDelimitedText(bytes("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"))).toBe(false);
    expect(looksLikeDelimitedText(bytes("PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00"))).toBe(false);
    expect(looksLikeDelimitedText(bytes('[{"a":1}]'))).toBe(false);
    expect(looksLikeDelimitedText(bytes('  {"a":1}\n{"a":2}\n'))).toBe(false);
  });
});

describe("columnar path", () => {
  it("counts days like Date.UTC for every day from year 100 to 9999", () => {
    for (let y = 100; y <= 9999; y += y < 2100 ? 1 : 97) {
      for (let m = 1; m <= 12; m++) {
        for (let d = 1; d <= daysInMonth(y, m); d++) {
          const want = Date.UTC(y, m - 1, d) / 86_400_000;
          if (daysFromCivil(y, m, d) !== want) expect([y, m, d, daysFromCivil(y, m, d)]).toEqual([y, m, d, want]);
        }
      }
    }
  });

  /** Values of an Arrow column; int64 as bigint (toArray refuses those beyond 2^53). */
  const valuesOf = (col: Column<unknown>): unknown[] => col.data.flatMap((batch) => {
    const out: unknown[] = [];
    const raw = (batch as unknown as { values: unknown }).values;
    for (let i = 0; i < batch.length; i++) {
      if (batch.nullCount > 0 && !batch.isValid(i)) out.push(null);
      else out.push(raw instanceof BigInt64Array ? raw[i] : batch.at(i));
    }
    return out;
  });

  /** Every column's values as the Arrow writer sees them: via columnar() and via rows() + toArrow. */
  async function bothPaths(content: string | Uint8Array): Promise<{ columnar: unknown[][]; rows: unknown[][] }> {
    const [table] = await readCsvDataset(await file(content), { tableName: "t" });
    const types = table!.columns.map((c) => c.type);
    const columnar: unknown[][] = types.map(() => []);
    for await (const b of table!.columnar!(3)) b.forEach((col, k) => columnar[k]!.push(...valuesOf(col.finish())));
    // CSV "integer" columns are int32 on the columnar path (their values fit 32 bits): the reference matches that layout.
    const viaRows = batchBuilders(types, 1 << 20, types.map((t) => t === "integer"));
    for await (const batch of table!.rows()) for (const row of batch) row.forEach((v, k) => viaRows[k]!.push(toArrow(v, types[k]!)));
    return { columnar, rows: viaRows.map((b) => valuesOf(b.finish())) };
  }

  it.each([
    ["every scalar type", "b,i,big,d,dec,day,ts,tz,t,s\ntrue,1,3000000000,1.5,1.123456789012345678,2024-01-31,2024-01-31 10:00,2024-01-31T10:00:00Z,10:30,x\nF,-2,-4,1e3,2,2024-02-29,2024-02-01T23:59:59.123,2024-01-31T23:30:00+02:00,23:59:59.5,y\n"],
    ["spaces, signs and odd number shapes", "i,d,b,day,ts\n +1 ,5.,  true,2024-01-31 , 2024-01-31 10:00:00\n-0,-.5,FALSE, 2024-02-01,2024-02-01T23:59:59\n007,+.25,t,0099-01-01,0099-01-01 01:02:03\n"],
    ["big integers and long decimals", "n,x,y\n9007199254740993,0.30000000000000004,123456789012345\n-9223372036854775808,1234.5600000000002,-123456789012345\n1,2,3\n"],
    ["nulls, quotes, escapes and text", 'a,b,c\n1,"x, ""y""",\nNULL,"multi\nline",2\nNA,日本語 text,n/a\n"3","é",4\n'],
    ["slash dates and NaN", "d,x\n31.12.2024 9:05,NaN\n01.02.2024 23:59:59,-Infinity\n"],
    ["many small batches with nulls", "b,i,s,d\n" + Array.from({ length: 40 }, (_, r) => (r % 5 === 0 ? ",,," : `${r % 3 === 0},${r},${"x".repeat(r)},2024-01-${String(1 + (r % 28)).padStart(2, "0")}`)).join("\n") + "\n"],
  ])("gives the same values as rows(): %s", async (_name, content) => {
    const { columnar, rows } = await bothPaths(content);
    expect(columnar).toEqual(rows);
    expect(columnar[0]!.length).toBeGreaterThan(1);
  });

  it("keeps 32-bit integers at the limits exactly (int32 columns) and widens one past them to bigint", async () => {
    const limits = await bothPaths("i\n2147483647\n-2147483648\n0\n");
    expect(limits.columnar).toEqual([[2147483647, -2147483648, 0]]);
    const past = await bothPaths("i\n2147483648\n-2147483648\n");
    expect(past.columnar).toEqual([[2147483648n, -2147483648n]]);
  });

  it("gives the same values for windows-1252 and UTF-16 files", async () => {
    const text = "name,n\ncafé,1\nnaïve,2\n";
    const latin = await bothPaths(Uint8Array.from([...text].map((ch) => ch.charCodeAt(0))));
    expect(latin.columnar).toEqual(latin.rows);
    expect(latin.columnar[0]).toEqual(["café", "naïve"]);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    const u = await bothPaths(utf16);
    expect(u.columnar).toEqual(u.rows);
    expect(u.columnar[0]).toEqual(["café", "naïve"]);
  });
});
