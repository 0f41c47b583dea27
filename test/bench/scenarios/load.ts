import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import * as hdr from "hdr-histogram-js";
import { under, type Ctx, type Round, type Scenario } from "../lib/scenario.ts";
import { connectSource, scratchDb } from "../lib/source-db.ts";

const LEVELS = [100, 1000, 2000] as const;
/** RSS is compared a minute after the warm-up (start) and a minute after the last level (end). */
const SETTLE_MS = 60_000;

interface State {
  db: Awaited<ReturnType<typeof scratchDb>>;
  sourceId: string;
  rssStart: Record<string, number>;
}

/** Resident memory of each service process, MiB. */
export function rss(ctx: Ctx): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(ctx.cluster.pids)) {
    try {
      out[name] = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
    } catch { out[name] = Number.NaN; }
  }
  return out;
}

/** 2,000 sockets need as many descriptors in this process and in the gateway: raise the soft limit where it is low. */
function raiseFdLimit(ctx: Ctx): void {
  for (const pid of [process.pid, ...Object.values(ctx.cluster.pids)]) {
    try { execFileSync("prlimit", ["--pid", String(pid), "--nofile=65536:65536"], { stdio: "ignore" }); } catch { /* not allowed: the current limit stays */ }
  }
  const limit = execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  ctx.log(`  open-file limit of this process: ${limit}`);
}

export interface Run {
  statuses: string;
  /** The first body of each non-2xx status and the kinds of connection errors: what went wrong, not only how often. */
  why: string;
  /** Requests still waiting when the run ended: autocannon drops them uncounted (neither answered nor failed). */
  unanswered: number; rps: number; p50: number; p99: number; p999: number; rawP99: number; rawP999: number; errors: number; non2xx: number; requests: number; intervalMs: number;
}

/**
 * One closed-loop autocannon run (each connection sends its next request when the previous one
 * is answered). A closed loop hides the requests a stalled connection did not send (coordinated
 * omission), so latencies are also recorded with HdrHistogram's expected-interval correction
 * (recordValueWithExpectedInterval): the expected interval between two requests of one
 * connection is connections / throughput of the run, and a response slower than that back-fills
 * the samples the connection would have sent meanwhile.
 */
export async function cannon(ctx: Ctx, opts: { path: string; method: "GET" | "POST"; body?: string; connections: number; seconds: number }): Promise<Run> {
  const latencies: number[] = [];
  let done!: (r: autocannon.Result) => void;
  let failed!: (e: unknown) => void;
  const finished = new Promise<autocannon.Result>((ok, fail) => { done = ok; failed = fail; });
  const bodies = new Map<number, string>();
  const errorKinds = new Map<string, number>();
  const instance = autocannon({
    url: ctx.cluster.url + opts.path, method: opts.method, connections: opts.connections, duration: opts.seconds,
    headers: { authorization: `Bearer ${ctx.token}`, "content-type": "application/json" }, body: opts.body, timeout: 30,
    requests: [{ onResponse: (status: number, body: string) => { if (status >= 300 && !bodies.has(status)) bodies.set(status, body.slice(0, 200)); } }],
  }, (err, result) => (err ? failed(err) : done(result)));
  instance.on("response", (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(Math.max(1, Math.round(ms))));
  instance.on("reqError", (e: Error & { code?: string }) => errorKinds.set(e.code ?? e.message, (errorKinds.get(e.code ?? e.message) ?? 0) + 1));
  const r = await finished;
  const rps = r.requests.total / opts.seconds;
  const intervalMs = rps > 0 ? (1000 * opts.connections) / rps : 0;
  const build = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
  const raw = build();
  const corrected = build();
  for (const v of latencies) {
    raw.recordValue(v);
    corrected.recordValueWithExpectedInterval(v, Math.max(1, Math.round(intervalMs)));
  }
  const out = {
    statuses: Object.entries(r.statusCodeStats ?? {}).map(([code, v]) => `${code}×${v.count ?? 0}`).join(" "),
    unanswered: r.requests.sent - r.requests.total,
    why: [...[...bodies].map(([status, body]) => `${status}: ${body}`), ...[...errorKinds].map(([kind, n]) => `${kind}×${n}`)].join("; "),
    // autocannon's errors include its timeouts.
    rps, requests: r.requests.total, errors: r.errors, non2xx: r.non2xx, intervalMs,
    p50: corrected.getValueAtPercentile(50), p99: corrected.getValueAtPercentile(99), p999: corrected.getValueAtPercentile(99.9),
    rawP99: raw.getValueAtPercentile(99), rawP999: raw.getValueAtPercentile(99.9),
  };
  raw.destroy();
  corrected.destroy();
  return out;
}

/** The two requests under load: a 10-row query and the sources list. */
export function loadTargets(sourceId: string) {
  return [
    { key: "query", path: `/api/data/sources/${sourceId}/query`, method: "POST" as const, body: JSON.stringify({ sql: "select * from small10" }) },
    { key: "list", path: "/api/data/sources?summary=true", method: "GET" as const },
  ];
}

/**
 * Load on the gateway in distributed mode: a small query and the sources list at 100, 1,000 and
 * 2,000 connections, closed loop: throughput, p50/p99/p99.9 corrected for coordinated omission
 * (raw p99 beside them), errors, non-2xx and every process's RSS; RSS again 60 s after the last level.
 */
export const load: Scenario<State> = {
  name: "load",
  describe: "autocannon: small query and GET /api/data/sources at 100, 1,000, 2,000 connections; CO-corrected latency, errors, RSS before/after",
  async setup(ctx) {
    raiseFdLimit(ctx);
    const db = await scratchDb("dsb_bench_load");
    await db.client.query("create table small10 (id int primary key, name text not null)");
    await db.client.query("insert into small10 select g, 'item ' || g from generate_series(1, 10) g");
    const sourceId = await connectSource(ctx, db.name, "bench load");
    // Warm the pools and the JIT.
    await cannon(ctx, { path: `/api/data/sources/${sourceId}/query`, method: "POST", body: JSON.stringify({ sql: "select * from small10" }), connections: 20, seconds: 2 });
    // The start is measured as settled as the end (both a minute after their last request): right
    // after the warm-up the heap and the allocator still hold its garbage, and a start taken then
    // would flatter the comparison.
    ctx.log(`  waiting ${SETTLE_MS / 1000} s for memory to settle before the start`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return { db, sourceId, rssStart: rss(ctx) };
  },
  async round(ctx, s) {
    const seconds = ctx.opts.quick ? 4 : 10;
    const out: Round = {};
    for (const t of loadTargets(s.sourceId)) {
      for (const c of LEVELS) {
        const run = await cannon(ctx, { ...t, connections: c, seconds });
        const k = `${t.key}.${c}`;
        Object.assign(out, {
          [`${k}.rps`]: run.rps, [`${k}.p50`]: run.p50, [`${k}.p99`]: run.p99, [`${k}.p999`]: run.p999,
          [`${k}.raw_p99`]: run.rawP99, [`${k}.errors`]: run.errors, [`${k}.non2xx`]: run.non2xx,
        });
        const mem = rss(ctx);
        for (const [name, mb] of Object.entries(mem)) out[`${k}.rss.${name}`] = mb;
        ctx.log(`  ${t.method} ${t.key} ×${c}: ${run.rps.toFixed(0)} req/s (${run.requests} requests, expected interval ${run.intervalMs.toFixed(0)} ms), p50 ${run.p50} ms, p99 ${run.p99} ms (raw ${run.rawP99}), p99.9 ${run.p999} ms (raw ${run.rawP999}), errors ${run.errors}, non-2xx ${run.non2xx}, unanswered at the end ${run.unanswered} (statuses ${run.statuses}${run.why ? `; ${run.why}` : ""}); RSS ${Object.entries(mem).map(([n, m]) => `${n} ${m.toFixed(0)}`).join(", ")} MiB`);
      }
    }
    ctx.log(`  waiting ${SETTLE_MS / 1000} s for memory to settle`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = rss(ctx);
    let worst = 0;
    for (const [name, mb] of Object.entries(after)) {
      out[`rss.start.${name}`] = s.rssStart[name]!;
      out[`rss.after60s.${name}`] = mb;
      worst = Math.max(worst, (mb / s.rssStart[name]! - 1) * 100);
    }
    out["rss.worst_growth_pct"] = worst;
    out["errors.total"] = Object.entries(out).filter(([k]) => k.endsWith(".errors") || k.endsWith(".non2xx")).reduce((a, [, v]) => a + v, 0);
    ctx.log(`  RSS start → 60 s after: ${Object.keys(after).map((n) => `${n} ${s.rssStart[n]!.toFixed(0)} → ${after[n]!.toFixed(0)}`).join(", ")} MiB (worst ${worst.toFixed(1)} %)`);
    return out;
  },
  rows() {
    return [
      ...LEVELS.flatMap((c) => [
        { label: `query ×${c}: req/s`, unit: "req/s", system: `query.${c}.rps` },
        { label: `query ×${c}: p99 (CO-corrected)`, unit: "ms", system: `query.${c}.p99` },
        { label: `query ×${c}: p99.9 (CO-corrected)`, unit: "ms", system: `query.${c}.p999` },
        { label: `list ×${c}: req/s`, unit: "req/s", system: `list.${c}.rps` },
        { label: `list ×${c}: p99 (CO-corrected)`, unit: "ms", system: `list.${c}.p99` },
      ]),
      { label: "errors + non-2xx, all levels", unit: "", system: "errors.total", target: under(1, "") },
      { label: "worst RSS growth 60 s after the load", unit: "%", system: "rss.worst_growth_pct", target: under(10, "%") },
      { label: "gateway RSS: start / after 2,000 connections / 60 s later", unit: "MiB", system: "rss.after60s.gateway" },
    ];
  },
};
