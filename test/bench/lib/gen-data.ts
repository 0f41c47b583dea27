import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { once } from "node:events";
import { duckdb } from "./child.ts";

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima"];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

const HEADER = "id,amount,name,day,at,flag,maybe,note\n";

/**
 * Writes HEADER and rows from `row` (given the row id and a seeded generator) until the file
 * reaches ~`mb` MiB; made once and kept (deterministic, so runs compare).
 */
async function generateCsv(file: string, mb: number, seed: number, row: (id: number, rnd: () => number) => string): Promise<string> {
  if (existsSync(file)) return file;
  const tmp = `${file}.part`;
  const out = createWriteStream(tmp);
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const target = mb * 2 ** 20;
  let written = 0;
  let id = 0;
  out.write(HEADER);
  while (written < target) {
    let chunk = "";
    for (let i = 0; i < 5000; i++) chunk += row(++id, rnd);
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  renameSync(tmp, file);
  return file;
}

/** A date and a timestamp on that day, from rnd. */
function dayAndTime(rnd: () => number): [string, string] {
  const y = 2015 + Math.floor(rnd() * 10);
  const m = 1 + Math.floor(rnd() * 12);
  const d = 1 + Math.floor(rnd() * 28);
  return [`${y}-${pad(m)}-${pad(d)}`, `${y}-${pad(m)}-${pad(d)} ${pad(Math.floor(rnd() * 24))}:${pad(Math.floor(rnd() * 60))}:${pad(Math.floor(rnd() * 60))}`];
}

/**
 * A CSV of mixed types (int, double, quoted string with commas, date,
 * timestamp, bool, nullable int, free text), ~`mb` MiB, kept in dataDir.
 */
export function mixedCsv(dataDir: string, mb: number): Promise<string> {
  mkdirSync(dataDir, { recursive: true });
  return generateCsv(join(dataDir, `mixed-${mb}mb.csv`), mb, 42, (id, rnd) => {
    const w1 = WORDS[Math.floor(rnd() * WORDS.length)]!;
    const w2 = WORDS[Math.floor(rnd() * WORDS.length)]!;
    const name = rnd() < 0.05 ? `"${w1}, ${w2}"` : `${w1} ${w2}`;
    const [day, at] = dayAndTime(rnd);
    const amount = ((rnd() - 0.2) * 10000).toFixed(3);
    const maybe = rnd() < 0.2 ? "" : String(Math.floor(rnd() * 100000));
    const note = `${w2} ${Math.floor(rnd() * 1e6)} ${w1}`;
    return `${id},${amount},${name},${day},${at},${rnd() < 0.5},${maybe},${note}\n`;
  });
}

/** Row number of the first quoted field in messyCsv: past the head a format sniffer samples. */
export const MESSY_FIRST_QUOTE_ROW = 30_000;

/**
 * A CSV as spreadsheets and exports write them, ~`mb` MiB, the mixedCsv columns: no quote at all
 * for the first MESSY_FIRST_QUOTE_ROW rows, then quoted delimiters in name (20%), doubled quotes
 * (10%) and quoted newlines, CRLF included (5%) in note, empty fields in amount, day, maybe, note.
 * Every value keeps its column's type, so the typed dataset must come out the same as DuckDB's.
 */
export function messyCsv(dataDir: string, mb: number): Promise<string> {
  mkdirSync(dataDir, { recursive: true });
  return generateCsv(join(dataDir, `messy-${mb}mb.csv`), mb, 7, (id, rnd) => {
    const quotes = id >= MESSY_FIRST_QUOTE_ROW;
    const w1 = WORDS[Math.floor(rnd() * WORDS.length)]!;
    const w2 = WORDS[Math.floor(rnd() * WORDS.length)]!;
    const [fullDay, at] = dayAndTime(rnd);
    const day = rnd() < 0.05 ? "" : fullDay;
    const amount = rnd() < 0.05 ? "" : ((rnd() - 0.2) * 10000).toFixed(3);
    const maybe = rnd() < 0.2 ? "" : String(Math.floor(rnd() * 100000));
    const name = quotes && rnd() < 0.2 ? `"${w1}, ${w2}, ${Math.floor(rnd() * 100)}"` : `${w1} ${w2}`;
    const n = rnd();
    const note = !quotes ? `${w2} ${Math.floor(rnd() * 1e6)} ${w1}`
      : n < 0.1 ? `"${w1} said ""${w2}"", then left"`
      : n < 0.13 ? `"line one ${w1}\nline two, ${w2}"`
      : n < 0.15 ? `"${w1}\r\n""${w2}"" ${Math.floor(rnd() * 1e6)}"`
      : n < 0.2 ? ""
      : `${w2} ${Math.floor(rnd() * 1e6)} ${w1}`;
    return `${id},${amount},${name},${day},${at},${rnd() < 0.5},${maybe},${note}\n`;
  });
}

/** The same data as Parquet (written by DuckDB, default row groups and Snappy). */
export async function mixedParquet(dataDir: string, mb: number): Promise<string> {
  const csv = await mixedCsv(dataDir, mb);
  const file = join(dataDir, `mixed-${mb}mb.parquet`);
  if (existsSync(file)) return file;
  await duckdb("to-parquet", csv, `${file}.part`);
  renameSync(`${file}.part`, file);
  return file;
}

export const sizeMb = (file: string) => statSync(file).size / 2 ** 20;
