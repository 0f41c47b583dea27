/**
 * In-process micro bench of Parquet → Arrow IPC (reader + dataset writer, no cluster):
 * `npx tsx test/bench/micro/parquet-reader.ts [file.parquet] [rounds] [--rows] [--no-digest] [--decode]`.
 * `--decode` gives only flat.ts's CPU time per column (column chunks read beforehand).
 * Default file is the one `test/bench/run.ts --only parquet-ingest` generates. Prints time, rows/s,
 * peak RSS and a digest of the decoded Arrow values, so a faster reader can be checked to give the same
 * dataset (`--rows` forces the row-wise path, the reference).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parquetMetadata, parquetSchema } from "hyparquet";
import { slabKind } from "../../../services/ingestion/src/dataset/bulk.ts";
import { ChunkDecoder, decodeChunk } from "../../../services/ingestion/src/formats/parquet/flat.ts";
import { fastPlan } from "../../../services/ingestion/src/formats/parquet/plan.ts";
import { tableFromIPC } from "@uwdata/flechette";
import type { BlobStore } from "@dsb/storage";
import { writeArrowTable } from "../../../services/ingestion/src/dataset/write.ts";
import { parquetColumnType, readParquet } from "../../../services/ingestion/src/formats/parquet/index.ts";

const args = process.argv.slice(2);
const rowsPath = args.includes("--rows");
const noDigest = args.includes("--no-digest");
const [file = "/tmp/dsb-bench-data/mixed-100mb.parquet", roundsArg = "3"] = args.filter((a) => !a.startsWith("--"));

/** A store that keeps the bytes in memory when the digest needs them, else only counts them. */
function memoryStore(keep: boolean): { store: BlobStore; bytes: () => Uint8Array } {
  let parts: Uint8Array[] = [];
  const store = {
    async put(_key: string, body: AsyncIterable<Uint8Array>) {
      parts = [];
      let size = 0;
      for await (const c of body) { if (keep) parts.push(c.slice()); size += c.length; }
      return { size };
    },
  } as unknown as BlobStore;
  return { store, bytes: () => Buffer.concat(parts) };
}

/** Digest of the values (not the bytes), so batch sizes may differ between readers. */
function digest(ipc: Uint8Array): string {
  const t = tableFromIPC(ipc, { useBigInt: true });
  const h = createHash("sha256");
  for (const name of t.names) {
    const col = t.getChild(name)!;
    h.update(`${name}:${String(col.type.typeId)}:`);
    for (const v of col) h.update(v === null ? "∅" : `${typeof v === "bigint" ? `${v}n` : String(v)}|`);
  }
  return h.digest("hex").slice(0, 16);
}

/** Milliseconds per column of the fast decoder alone, per round. */
async function decodeOnly(rounds: number): Promise<void> {
  const buf = new Uint8Array(await readFile(file));
  const md = parquetMetadata(buf.buffer);
  const fields = parquetSchema(md).children;
  for (let round = 0; round < rounds; round++) {
    const out: string[] = [];
    let total = 0;
    fields.forEach((f, i) => {
      const type = parquetColumnType(f.element, f.children.length > 0);
      const plan = f.children.length ? null : fastPlan(f.element, type);
      if (!plan) { out.push(`${f.element.name}:slow`); return; }
      const dec = new ChunkDecoder(plan, slabKind(type));
      const c0 = process.cpuUsage();
      for (const g of md.row_groups) {
        const m = g.columns[i]!.meta_data!;
        const from = Number(m.dictionary_page_offset || m.data_page_offset);
        decodeChunk(buf.subarray(from, from + Number(m.total_compressed_size)), m, plan, slabKind(type), Number(g.num_rows), dec);
      }
      const cpu = process.cpuUsage(c0);
      const ms = (cpu.user + cpu.system) / 1000;
      total += ms;
      out.push(`${f.element.name}:${ms.toFixed(1)}`);
    });
    console.log(`decode ${total.toFixed(0)} ms CPU: ${out.join(" ")}`);
  }
}
if (args.includes("--decode")) { await decodeOnly(Number(roundsArg)); process.exit(0); }

const { store, bytes } = memoryStore(!noDigest);
let peak = 0;
const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 10);
for (let round = 0; round < Number(roundsArg); round++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const [table] = await readParquet(file, { tableName: "t" });
  const t = rowsPath ? { ...table!, columnar: undefined } : table!;
  const out = await writeArrowTable(store, "k", t);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  peak = Math.max(peak, process.memoryUsage.rss());
  console.log(`round ${round + 1}: ${ms.toFixed(0)} ms (cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, all threads), ${Math.round(out.rowCount / (ms / 1000)).toLocaleString("en")} rows/s, ${out.rowCount} rows, ${(out.bytes / 2 ** 20).toFixed(1)} MiB arrow, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
}
clearInterval(timer);
if (!noDigest) console.log(`digest ${digest(bytes())}`);
