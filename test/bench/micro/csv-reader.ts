/**
 * Throughput check of the delimited-text reader (not a test): generates a
 * mixed CSV of about 100 MB in /tmp and prints MB/s of the inference pass, of
 * a full row-wise read (inference + converting every row) and of the single
 * columnar pass the dataset writer uses (Arrow builders, no store), with peak RSS.
 *   npx tsx test/bench/micro/csv-reader.ts [megabytes]
 */
import { createWriteStream } from "node:fs";
import { stat, unlink } from "node:fs/promises";
import { once } from "node:events";
import { inferCsv, readCsvDataset } from "../../../services/ingestion/src/formats/csv/index.ts";

const targetMb = Number(process.argv[2] ?? 100);
const path = `/tmp/bench-csv-${process.pid}.csv`;

let peakRss = 0;
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);

async function generate(): Promise<number> {
  const out = createWriteStream(path);
  out.write("id,name,amount,qty,day,created_at,active,zip,big,note\n");
  const names = ["Alice", "Bob", "Carol \"CJ\" Jones", "Dave, Jr.", "Eve", "Mallory", "Trent"];
  let bytes = 0;
  let i = 0;
  while (bytes < targetMb * 1e6) {
    let chunk = "";
    for (let r = 0; r < 2000; r++, i++) {
      const name = names[i % names.length]!;
      const quoted = name.includes('"') || name.includes(",") ? `"${name.replace(/"/g, '""')}"` : name;
      const d = 1 + (i % 28);
      const m = 1 + (i % 12);
      chunk += `${i},${quoted},${((i * 1.37) % 10000).toFixed(2)},${i % 500},2024-${m < 10 ? "0" + m : m}-${d < 10 ? "0" + d : d},` +
        `2024-03-${d < 10 ? "0" + d : d} ${String(i % 24).padStart(2, "0")}:15:30,${i % 3 === 0 ? "true" : "false"},` +
        `0${1000 + (i % 9000)},${9007199254740993n + BigInt(i)},${i % 10 === 0 ? "" : "some free text " + (i % 97)}\n`;
    }
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return (await stat(path)).size;
}

const size = await generate();
const mb = size / 1e6;
console.log(`generated ${mb.toFixed(1)} MB at ${path}`);

/** CPU seconds of this process: the wall clock is unreliable when other jobs share the cores. */
const cpuSeconds = (since: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};

let t0 = performance.now();
let c0 = process.cpuUsage();
const inf = await inferCsv(path);
const inferS = (performance.now() - t0) / 1000;
const inferCpu = cpuSeconds(c0);
console.log(`inference pass: ${inferS.toFixed(2)} s wall = ${(mb / inferS).toFixed(1)} MB/s; ` +
  `${inferCpu.toFixed(2)} s CPU = ${(mb / inferCpu).toFixed(1)} MB/s per CPU-second; ${inf.rowCount} rows`);
console.log(inf.columns.map((c) => `${c.name}:${c.type}${c.nullable ? "?" : ""}`).join(" "));

t0 = performance.now();
c0 = process.cpuUsage();
const [table] = await readCsvDataset(path, { tableName: "bench" });
let rows = 0;
for await (const batch of table!.rows()) rows += batch.length;
const fullS = (performance.now() - t0) / 1000;
const fullCpu = cpuSeconds(c0);
console.log(`full read (inference + conversion): ${fullS.toFixed(2)} s wall = ${(mb / fullS).toFixed(1)} MB/s; ` +
  `${fullCpu.toFixed(2)} s CPU = ${(mb / fullCpu).toFixed(1)} MB/s per CPU-second; ${rows} rows`);
console.log(`conversion pass alone ≈ ${(mb / (fullCpu - inferCpu)).toFixed(1)} MB/s per CPU-second`);

t0 = performance.now();
c0 = process.cpuUsage();
const [dataset] = await readCsvDataset(path, { tableName: "bench" });
let columnarRows = 0;
for await (const b of dataset!.columnar!(65_536)) {
  columnarRows += b[0]!.length;
  for (const col of b) col.finish();
}
const colS = (performance.now() - t0) / 1000;
const colCpu = cpuSeconds(c0);
console.log(`dataset single pass (sniff + guess + classify + convert to Arrow builders): ${colS.toFixed(2)} s wall = ${(mb / colS).toFixed(1)} MB/s; ` +
  `${colCpu.toFixed(2)} s CPU = ${(mb / colCpu).toFixed(1)} MB/s per CPU-second; ${columnarRows} rows`);
clearInterval(sampler);
console.log(`peak RSS ${(peakRss / 1e6).toFixed(0)} MB`);
await unlink(path);
