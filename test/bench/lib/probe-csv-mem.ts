/**
 * CSV upload memory and CPU per process, variants side by side:
 *   tsx test/bench/lib/probe-csv-mem.ts [rounds] [A=K=V;K=V] [B=…]
 * One cluster per variant (its variables set as given, e.g. `B=MALLOC_CONF=background_thread:true,dirty_decay_ms:1000`),
 * the csv-ingest scenario's plain and messy files uploaded to each in turn, so the variants share the
 * machine's load. Per upload: wall ms, and of gateway and ingestion the CPU ms and minor page faults
 * (/proc/<pid>/stat), the RSS it started from and its VmHWM (reset at the start, as the bench does);
 * from the second upload on, a "period" line with the CPU since the previous upload began.
 * PROBE_GAP=ms pauses before each upload (the bench runs DuckDB between two); PROBE_PERF=dir records the
 * last round's page faults with call stacks (`perf record -e page-faults -g`; run the cluster with
 * BENCH_NODE_ARGS=--perf-basic-prof to name JavaScript frames).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cleanup, startCluster } from "./setup.ts";
import { uploadFile } from "./upload.ts";
import { messyCsv, mixedCsv } from "./gen-data.ts";
import type { Ctx } from "./scenario.ts";

const stat = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const rss = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  return { cpuMs: (Number(f[11]) + Number(f[12])) * 10, minflt: Number(f[7]), rss };
};
const [roundsArg = "3", ...variantArgs] = process.argv.slice(2);
const rounds = Number(roundsArg);
const variants = (variantArgs.length ? variantArgs : ["A="]).map((v) => {
  const [name, rest = ""] = v.split(/=(.*)/s);
  return { name: name!, env: Object.fromEntries(rest.split(";").filter(Boolean).map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string])) };
});
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastBefore = new Map<string, { gw: ReturnType<typeof stat>; ing: ReturnType<typeof stat> }>();
try {
  const dir = process.env.BENCH_DATA_DIR ?? "/tmp/dsb-bench-data";
  const files = { plain: await mixedCsv(dir, 100), messy: await messyCsv(dir, 100) };
  const clusters = [];
  for (const v of variants) {
    const cluster = await startCluster({ env: { LOG_LEVEL: "warn", ...v.env } });
    clusters.push({ v, cluster, ctx: { cluster, token: await cluster.token(), log: () => {}, note: () => {} } as unknown as Ctx });
  }
  for (let round = 0; round < rounds; round++) {
    for (const [kind, file] of Object.entries(files)) {
      for (const { v, cluster, ctx } of clusters) {
        const pids = { gw: cluster.pids.gateway, ing: cluster.pids.ingestion };
        if (process.env.PROBE_GAP) await pause(Number(process.env.PROBE_GAP));
        const perf = process.env.PROBE_PERF && round === rounds - 1
          ? Object.entries(pids).map(([k, pid]) => spawn("perf", ["record", "-e", "page-faults", "-g", "-p", String(pid), "-o", `${process.env.PROBE_PERF}/${kind}-${v.name}-${k}.data`], { stdio: "ignore" }))
          : [];
        if (perf.length) await pause(500);
        const before = { gw: stat(pids.gw), ing: stat(pids.ing) };
        // CPU since the last upload began: this one's share of what runs between uploads too (collections after a job).
        const last = lastBefore.get(v.name);
        if (last) console.log(`  period ${v.name}: gw ${before.gw.cpuMs - last.gw.cpuMs} ing ${before.ing.cpuMs - last.ing.cpuMs}`);
        lastBefore.set(v.name, before);
        const up = await uploadFile(ctx, file);
        const after = { gw: stat(pids.gw), ing: stat(pids.ing) };
        for (const p of perf) { p.kill("SIGINT"); await new Promise((r) => p.once("exit", r)); }
        const load = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
        const part = (k: "gw" | "ing", peak: number) =>
          `${k} cpu ${after[k].cpuMs - before[k].cpuMs} flt ${after[k].minflt - before[k].minflt} rss0 ${before[k].rss.toFixed(0)} hwm ${peak.toFixed(0)}`;
        console.log(`r${round + 1} ${kind} ${v.name}: wall ${Math.round(up.seconds * 1000)} | ${part("gw", up.peaks.gateway!.hwmMb)} | ${part("ing", up.peaks.ingestion!.hwmMb)} | sum ${(up.peaks.gateway!.hwmMb + up.peaks.ingestion!.hwmMb).toFixed(0)} | load ${load}`);
      }
    }
  }
} finally {
  await cleanup();
}
process.exit(0);
