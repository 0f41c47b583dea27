/**
 * `npm run bench [-- --quick] [--rounds N] [--only a,b] [--big]`: each scenario
 * next to its baseline, several rounds, against the system in distributed mode
 * (four OS processes on NATS, catalog on PostgreSQL). Prints medians and ratios
 * and writes test/bench/results/<timestamp>.json.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { cleanup, ROOT, startCluster, type Cluster } from "./lib/setup.ts";
import { median } from "./lib/stats.ts";
import type { Ctx, Options, Round, Scenario } from "./lib/scenario.ts";
import { printTable, tableRows, toMarkdown } from "./lib/table.ts";
import { smallQuery } from "./scenarios/small-query.ts";
import { exportCsv } from "./scenarios/export.ts";
import { introspection } from "./scenarios/introspection.ts";
import { csvIngest } from "./scenarios/csv-ingest.ts";
import { parquetIngest } from "./scenarios/parquet-ingest.ts";
import { edge } from "./scenarios/edge.ts";
import { load } from "./scenarios/load.ts";

const SCENARIOS: Scenario<never>[] = [smallQuery, exportCsv, introspection, csvIngest, parquetIngest, edge, load] as Scenario<never>[];

function parseArgs(argv: string[]): Options {
  const opts: Options = { rounds: 3, quick: false, big: false, only: [], dataDir: process.env.BENCH_DATA_DIR ?? "/tmp/dsb-bench-data" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") opts.quick = true;
    else if (a === "--big") opts.big = true;
    else if (a === "--rounds") opts.rounds = Number(argv[++i]);
    else if (a === "--only") opts.only.push(...argv[++i]!.split(","));
    else if (a === "--help" || a === "-h") {
      console.log("npm run bench -- [--quick] [--rounds N] [--only small-query,export,introspection,csv-ingest,parquet-ingest,edge,load] [--big]\n" +
        "env: BENCH_EXPORT_ROWS, BENCH_EXPORT_BIG_ROWS, BENCH_INTRO_TABLES, BENCH_CSV_MB, BENCH_BIG_CSV_MB, BENCH_INTRO_FIT_TABLES, BENCH_DATA_DIR, BENCH_NODE_ARGS, BENCH_KEEP_LOGS, BENCH_MARKDOWN, BENCH_PEER_DIR (the seed-python peer, default ../shared/peers/seed-python)");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (opts.quick && !argv.includes("--rounds")) opts.rounds = 1;
  if (!(opts.rounds >= 1)) throw new Error("--rounds needs a number ≥ 1");
  const unknown = opts.only.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  // edge starts a second system (its own NATS with WebSocket): only when asked for by name.
  const chosen = SCENARIOS.filter((s) => (opts.only.length === 0 ? s.name !== "edge" : opts.only.includes(s.name)));
  const started = new Date();
  const log = (msg: string) => console.log(`[${((Date.now() - started.getTime()) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
  log(`starting the system (distributed: gateway, catalog, connector, ingestion as separate processes) — ${opts.rounds} round(s)${opts.quick ? ", quick sizes" : ""}`);
  let cluster: Cluster | undefined;
  const results: Record<string, { rounds: Round[]; extra?: Round; medians: Round; error?: string; notes: string[] }> = {};
  let notes: string[] = [];
  try {
    cluster = await startCluster();
    const ctx: Ctx = { cluster, token: await cluster.token(), opts, log, note: (m) => { notes.push(m); log(`  note: ${m}`); } };
    const revive = async (when: string) => {
      const restarted = await cluster!.restartDead();
      if (restarted.length) ctx.note(`${restarted.join(", ")} had crashed (${when}) and was restarted`);
    };
    log(`ready on ${cluster.url} (pids ${JSON.stringify(cluster.pids)})`);
    for (const sc of chosen) {
      log(`▶ ${sc.name}: ${sc.describe}`);
      const rounds: Round[] = [];
      let extra: Round | undefined;
      notes = [];
      try {
        const state = await sc.setup(ctx);
        await revive(`${sc.name} setup`);
        try {
          for (let i = 0; i < opts.rounds; i++) {
            const r = await sc.round(ctx, state, i);
            await revive(`${sc.name} round ${i + 1}`);
            rounds.push(r);
            log(`  round ${i + 1}/${opts.rounds}: ${Object.entries(r).map(([k, v]) => `${k}=${fmt(v)}`).join(" ")}`);
          }
          if (sc.extra) {
            extra = await sc.extra(ctx, state);
            await revive(`${sc.name} extra`);
            log(`  extra: ${Object.entries(extra).map(([k, v]) => `${k}=${fmt(v)}`).join(" ")}`);
          }
        } finally {
          await sc.teardown?.(ctx, state);
        }
        results[sc.name] = { rounds, extra, medians: { ...medians(rounds), ...extra }, notes };
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        log(`  ✖ ${sc.name} failed: ${msg}\n${cluster.logs(15)}`);
        results[sc.name] = { rounds, extra, medians: medians(rounds), error: msg, notes };
        await revive(`${sc.name} failure`).catch((err) => log(`  could not restart: ${err instanceof Error ? err.message : err}`));
      }
    }
  } finally {
    log("stopping the system");
    await cleanup();
  }
  const table = chosen.flatMap((sc) => tableRows(sc.name, sc.rows(opts), results[sc.name]?.medians ?? {}));
  console.log("");
  printTable(table);
  const allNotes = Object.entries(results).flatMap(([n, r]) => [...(r.error ? [`${n} failed: ${r.error.split("\n")[0]}`] : []), ...r.notes.map((m) => `${n}: ${m}`)]);
  if (allNotes.length) console.log(`\nnotes:\n${allNotes.map((m) => `- ${m}`).join("\n")}`);
  const outDir = join(ROOT, "test/bench/results");
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({
    started: started.toISOString(), finished: new Date().toISOString(),
    commit: gitHead(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memMb: Math.round(totalmem() / 2 ** 20), node: process.version },
    options: opts, results, table,
  }, null, 2));
  console.log(`\nJSON: ${file}`);
  if (process.env.BENCH_MARKDOWN) console.log(`\n${toMarkdown(table)}`);
  const failed = Object.entries(results).filter(([, r]) => r.error);
  if (failed.length) {
    console.error(`\nscenarios that failed: ${failed.map(([n]) => n).join(", ")}`);
    process.exitCode = 1;
  }
}

function medians(rounds: Round[]): Round {
  const keys = new Set(rounds.flatMap((r) => Object.keys(r)));
  return Object.fromEntries([...keys].map((k) => [k, median(rounds.map((r) => r[k]!).filter((v) => v !== undefined))]));
}

/** The commit measured (with "+dirty" when the work tree differs): results only compare across the same code. */
function gitHead(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: ROOT, encoding: "utf8" }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return "unknown";
  }
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping the system`);
    void cleanup().finally(() => process.exit(130));
  });
}

main().catch(async (e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  await cleanup();
  process.exit(1);
});
