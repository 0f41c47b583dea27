/**
 * Memory of the services around a 2,000-connection load, without the whole load scenario:
 * `tsx test/bench/lib/probe-memory.ts`. Prints each process's RSS at start, after each load and
 * PROBE_SETTLE_S (60) seconds later. Variants come from what the services inherit
 * (MALLOC_ARENA_MAX=…, BENCH_NODE_ARGS="--max-semi-space-size=…"). PROBE_SNAPSHOTS=1 adds heap
 * snapshots (each after a full GC) before the load and after the settle, diffed by constructor
 * (heap-diff.ts): a count that grew with the requests is a leak. RSS is memory, not time, so it
 * is comparable between variants on a busy machine.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, startCluster } from "./setup.ts";
import { diff, tally, type Tally } from "./heap-diff.ts";
import { cannon, load, loadTargets, rss } from "../scenarios/load.ts";
import type { Ctx } from "./scenario.ts";

const connections = Number(process.env.PROBE_CONNECTIONS ?? 2000);
const seconds = Number(process.env.PROBE_SECONDS ?? 10);
const settleS = Number(process.env.PROBE_SETTLE_S ?? 60);
const snapshots = process.env.PROBE_SNAPSHOTS === "1";
const dir = snapshots ? mkdtempSync(join(tmpdir(), "dsb-heap-")) : "";
if (snapshots) process.env.BENCH_NODE_ARGS = `${process.env.BENCH_NODE_ARGS ?? ""} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;

/** CPU time (user + system) of each process so far, seconds. */
const cpuSeconds = (pids: Record<string, number>) => Object.fromEntries(Object.entries(pids).map(([n, pid]) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return [n, (Number(f[11]) + Number(f[12])) / 100];
}));
/** The gateway's V8 heap (committed / used, and the new space) and external memory, MiB, from its /metrics. */
async function gatewayHeap(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const mb = (re: RegExp) => (Number(re.exec(text)?.[1] ?? Number.NaN) / 1048576).toFixed(0);
  return `gateway heap ${mb(/^nodejs_heap_size_total_bytes (\S+)/m)} committed / ${mb(/^nodejs_heap_size_used_bytes (\S+)/m)} used (new space ${mb(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\S+)/m)}, old ${mb(/^nodejs_heap_space_size_total_bytes\{space="old"\} (\S+)/m)}), external ${mb(/^nodejs_external_memory_bytes (\S+)/m)} MiB`;
}
const show = (m: Record<string, number>) => Object.entries(m).map(([n, v]) => `${n} ${v.toFixed(0)}`).join(", ");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signals every service to write a snapshot and waits until each file stops growing; tallies them. */
async function snapshot(pids: Record<string, number>): Promise<Record<string, Map<string, Tally>>> {
  const before = new Set(readdirSync(dir));
  for (const pid of Object.values(pids)) process.kill(pid, "SIGUSR2");
  const out: Record<string, Map<string, Tally>> = {};
  for (const [name, pid] of Object.entries(pids)) {
    let file = "", size = -1;
    for (;;) {
      await sleep(1000);
      file = readdirSync(dir).find((f) => !before.has(f) && f.includes(`.${pid}.`) && f.endsWith(".heapsnapshot")) ?? "";
      if (!file) continue;
      const now = statSync(join(dir, file)).size;
      if (now === size && now > 0) break;
      size = now;
    }
    out[name] = tally(join(dir, file));
  }
  return out;
}

try {
  const cluster = await startCluster();
  const ctx = { cluster, token: await cluster.token(), opts: { quick: false }, log: console.log, note: console.log } as unknown as Ctx;
  console.log(`variant: MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? "-"} node args: ${process.env.BENCH_NODE_ARGS ?? "-"}`);
  const state = await load.setup(ctx);
  console.log(`RSS start: ${show(state.rssStart)} MiB; ${await gatewayHeap(cluster.url)}`);
  const heapA = snapshots ? await snapshot(cluster.pids) : undefined;
  if (heapA) console.log(`RSS after the first snapshot (full GC): ${show(rss(ctx))} MiB`);
  for (const t of loadTargets(state.sourceId).reverse()) {
    const cpu0 = cpuSeconds(cluster.pids);
    const run = await cannon(ctx, { ...t, connections, seconds });
    const cpu1 = cpuSeconds(cluster.pids);
    console.log(`${t.key} ×${connections}: ${run.rps.toFixed(0)} req/s, CPU s ${Object.keys(cpu1).map((n) => `${n} ${(cpu1[n]! - cpu0[n]!).toFixed(1)}`).join(", ")}, statuses ${run.statuses}, unanswered at the end ${run.unanswered}, errors ${run.errors}${run.why ? ` (${run.why})` : ""}; RSS ${show(rss(ctx))} MiB; ${await gatewayHeap(cluster.url)}`);
  }
  await sleep(settleS * 1000);
  const after = rss(ctx);
  console.log(`RSS ${settleS} s later: ${show(after)} MiB; growth ${Object.keys(after).map((n) => `${n} ${((after[n]! / state.rssStart[n]! - 1) * 100).toFixed(0)} %`).join(", ")}; ${await gatewayHeap(cluster.url)}`);
  if (heapA) {
    const heapB = await snapshot(cluster.pids);
    console.log(`RSS after the second snapshot (full GC): ${show(rss(ctx))} MiB`);
    for (const name of Object.keys(heapB)) console.log(`--- ${name}\n${diff(heapA[name]!, heapB[name]!).join("\n")}`);
    console.log(`snapshots in ${dir}`);
  }
} finally {
  await cleanup();
}
