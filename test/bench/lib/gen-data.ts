import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { once } from "node:events";
import { duckdb } from "./child.ts";

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima"];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/**
 * A CSV of mixed types (int, double, quoted string with commas, date,
 * timestamp, bool, nullable int, free text), ~`mb` MiB, made once and kept in
 * dataDir (deterministic, so runs compare).
 */
export async function mixedCsv(dataDir: string, mb: number): Promise<string> {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, `mixed-${mb}mb.csv`);
  if (existsSync(file)) return file;
  const tmp = `${file}.part`;
  const out = createWriteStream(tmp);
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const target = mb * 2 ** 20;
  let written = 0;
  let id = 0;
  out.write("id,amount,name,day,at,flag,maybe,note\n");
  while (written < target) {
    let chunk = "";
    for (let i = 0; i < 5000; i++) {
      id++;
      const w1 = WORDS[Math.floor(rnd() * WORDS.length)]!;
      const w2 = WORDS[Math.floor(rnd() * WORDS.length)]!;
      const name = rnd() < 0.05 ? `"${w1}, ${w2}"` : `${w1} ${w2}`;
      const y = 2015 + Math.floor(rnd() * 10);
      const m = 1 + Math.floor(rnd() * 12);
      const d = 1 + Math.floor(rnd() * 28);
      const day = `${y}-${pad(m)}-${pad(d)}`;
      const at = `${y}-${pad(m)}-${pad(d)} ${pad(Math.floor(rnd() * 24))}:${pad(Math.floor(rnd() * 60))}:${pad(Math.floor(rnd() * 60))}`;
      const amount = ((rnd() - 0.2) * 10000).toFixed(3);
      const maybe = rnd() < 0.2 ? "" : String(Math.floor(rnd() * 100000));
      const note = `${w2} ${Math.floor(rnd() * 1e6)} ${w1}`;
      chunk += `${id},${amount},${name},${day},${at},${rnd() < 0.5},${maybe},${note}\n`;
    }
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  renameSync(tmp, file);
  return file;
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
