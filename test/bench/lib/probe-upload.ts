/**
 * Where an upload's time goes, in distributed mode: `tsx test/bench/lib/probe-upload.ts [file] [rounds]`
 * (default: the parquet-ingest scenario's file, 6 rounds). Per round: wall ms, CPU ms of the gateway,
 * ingestion and the machine's nats-server (from /proc, so comparable on a busy machine; nats-server's
 * includes other users' traffic), and ingestion's own phases from its "upload parsed" log line.
 */
import { readFileSync, readdirSync } from "node:fs";
import { cleanup, startCluster } from "./setup.ts";
import { uploadFile } from "./upload.ts";
import type { Ctx } from "./scenario.ts";

const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const natsPid = () => Number(readdirSync("/proc").find((p) => /^\d+$/.test(p) && (() => {
  try { return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "nats-server"; } catch { return false; }
})()) ?? 0);

const [file = "/tmp/dsb-bench-data/mixed-100mb.parquet", roundsArg = "6"] = process.argv.slice(2);
try {
  const cluster = await startCluster({ env: { LOG_LEVEL: "info" } });
  const token = await cluster.token();
  const ctx = { cluster, token, log: () => {}, note: () => {} } as unknown as Ctx;
  const procs = { gateway: cluster.pids.gateway, ingestion: cluster.pids.ingestion, nats: natsPid() };
  const log = cluster.replicas.find((r) => r.service === "ingestion")!.logFile;
  for (let round = 0; round < Number(roundsArg); round++) {
    const before = Object.values(procs).map((p) => (p ? cpuMs(p) : 0));
    const up = await uploadFile(ctx, file);
    const cpu = Object.entries(procs).map(([k, p], i) => `${k} ${p ? cpuMs(p) - before[i]! : "?"}`);
    const parsed = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("upload parsed")).pop() ?? "{}";
    const { ms, sniff_ms, read_ms, local_copy_ms, dataset_ms, manifest_ms, bytes } = JSON.parse(parsed) as Record<string, number | undefined>;
    console.log(`round ${round + 1}: wall ${Math.round(up.seconds * 1000)} ms | CPU ms ${cpu.join(", ")} | ingestion ${ms} ms: sniff ${sniff_ms} read ${read_ms ?? local_copy_ms} dataset ${dataset_ms} manifest ${manifest_ms} (${((bytes ?? 0) / 2 ** 20).toFixed(1)} MiB)`);
  }
} finally {
  await cleanup();
}
process.exit(0);
