import { createReadStream } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { AppError } from "@dsb/contracts";
import type { FormatReader, ParsedColumn, ParsedTable } from "../../dataset/table.ts";
import { ColumnCollector, toRow } from "./flatten.ts";
import { MAX_ELEMENT_CHARS, splitJsonArray, truncatedJson } from "./split.ts";

const BATCH = 2000;
const fail = (message: string) => new AppError("PARSE_FAILED", message);

type Rec = Record<string, unknown>;
const isRecord = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A value nested thousands of levels deep parses, but the recursive steps after
 * (typing it, storing it as JSON text) overflow the stack: that is the file's fault.
 */
const tooDeep = (e: unknown, line: number) =>
  (e instanceof RangeError ? fail(`The record at line ${line} is nested too deeply to store; flatten it (values nested thousands of levels deep are not supported)`) : null);

/** The first non-whitespace character of a file (after a BOM). */
async function firstChar(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return /\S/.exec(buf.subarray(0, bytesRead).toString("utf8").replace(/^\uFEFF/, ""))?.[0] ?? "";
  } finally {
    await fh.close();
  }
}

/** True when JSON.parse stopped because the text ended (not because of a wrong character). */
function endedEarly(e: unknown, text: string): boolean {
  const m = (e as Error).message;
  if (/Unexpected end of JSON input|Unterminated string/i.test(m)) return true;
  const at = /at position (\d+)/.exec(m);
  return !!at && Number(at[1]) >= text.trimEnd().length;
}

/**
 * A JSON file holding one object (read whole, up to MAX_ELEMENT_CHARS): the
 * rows of its array when the object wraps exactly one array of objects
 * (`{"data": [{...}, ...]}`, as APIs export), else the object itself as one row.
 */
async function* objectRecords(path: string): AsyncGenerator<{ record: Rec; line: number }> {
  const { size } = await stat(path);
  if (size > MAX_ELEMENT_CHARS)
    throw fail(`The JSON file holds one object of ${size} bytes; one object is read whole up to ${MAX_ELEMENT_CHARS} bytes. Upload an array of objects or NDJSON instead`);
  const text = (await readFile(path, "utf8")).replace(/^\uFEFF/, "");
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) {
    if (endedEarly(e, text)) throw truncatedJson(size);
    throw fail(`Invalid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(v)) throw fail("The JSON file must hold an array of objects or one object");
  const values = Object.values(v);
  const wrapped = values.length === 1 && Array.isArray(values[0]) && values[0].length > 0 && values[0].every(isRecord) ? (values[0] as Rec[]) : null;
  for (const record of wrapped ?? [v]) yield { record, line: 1 };
}

/** Records of a JSON file: an array streamed element by element (each with the line it starts on), or one object. */
async function* jsonRecords(path: string): AsyncGenerator<{ record: Rec; line: number }> {
  if ((await firstChar(path)) === "{") {
    yield* objectRecords(path);
    return;
  }
  for await (const el of splitJsonArray(createReadStream(path, { encoding: "utf8", highWaterMark: 256 * 1024 }))) {
    let v: unknown;
    try { v = JSON.parse(el.text); } catch (e) {
      throw fail(`Invalid JSON in the element starting at line ${el.line}: ${(e as Error).message}`);
    }
    if (!isRecord(v)) throw fail(`Element ${el.index + 1} (line ${el.line}) is ${Array.isArray(v) ? "an array" : JSON.stringify(v)?.slice(0, 40)}, not an object; upload an array of objects`);
    yield { record: v, line: el.line };
  }
}

/** Records of an NDJSON file, line by line; blank lines are skipped. */
async function* ndjsonRecords(path: string): AsyncGenerator<{ record: Rec; line: number }> {
  const rl = createInterface({ input: createReadStream(path, { encoding: "utf8", highWaterMark: 256 * 1024 }), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    const t = line === 1 ? text.replace(/^\uFEFF/, "").trim() : text.trim();
    if (!t) continue;
    let v: unknown;
    try { v = JSON.parse(t); } catch (e) {
      throw fail(`Invalid JSON on line ${line}: ${(e as Error).message}`);
    }
    if (!isRecord(v)) throw fail(`Line ${line} is not a JSON object; NDJSON needs one object per line`);
    yield { record: v, line };
  }
}

function reader(kind: "json" | "ndjson"): FormatReader {
  const records = kind === "json" ? jsonRecords : ndjsonRecords;
  return async (path, opts) => {
    // Pass 1: columns and widened types over every record (types may change late in a file).
    const collector = new ColumnCollector();
    let last = 0;
    for await (const { record, line } of records(path)) {
      last = line;
      try { collector.add(record, () => `line ${line}`); } catch (e) { throw tooDeep(e, line) ?? fail(`${kind.toUpperCase()} file has ${(e as Error).message}`); }
    }
    if (collector.rows === 0) throw fail(kind === "json" ? "The JSON array is empty; upload an array with at least one object" : "The NDJSON file has no records");
    const columns: ParsedColumn[] = collector.columns();
    if (columns.length === 0) throw fail(`Every record is an empty object (last at line ${last}); nothing to ingest`);
    const index = new Map(columns.map((c, i) => [c.name, i]));
    const table: ParsedTable = {
      name: opts.tableName,
      columns,
      rowCount: collector.rows,
      async *rows() {
        let batch: unknown[][] = [];
        for await (const { record, line } of records(path)) {
          try { batch.push(toRow(record, columns, index)); } catch (e) { throw tooDeep(e, line) ?? e; }
          if (batch.length >= BATCH) { yield batch; batch = []; }
        }
        if (batch.length) yield batch;
      },
    };
    return [table];
  };
}

/** A JSON array of objects, stream-parsed element by element. */
export const readJson: FormatReader = reader("json");
/** Newline-delimited JSON objects. */
export const readNdjson: FormatReader = reader("ndjson");
