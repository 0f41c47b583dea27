/**
 * The gateway's CPU per request of two source trees side by side: `tsx test/bench/lib/probe-gateway-ab.ts
 * <treeA> <treeB>` starts each tree's gateway as the Node entry does (`startGateway`: metrics, the
 * JetStream KV result cache, logs at warn as the bench cluster has them) against probe-gateway.ts's
 * stub services over NATS, then loads them in turn (c=32, PROBE_SECONDS each, PROBE_ROUNDS rounds, the
 * order swapped every round) and prints each tree's gateway CPU µs per request (from /proc) for
 * /healthz, the small query and the cached small query. Turn by turn on the same machine, so a busy
 * machine inflates both trees alike. PROBE_KINDS=cached,query picks kinds, PROBE_WARM the JIT warm-up
 * seconds, GWPROF=<dir> writes CPU profiles. PROBE_CALLGRIND=<dir> (PROBE_ROUNDS=0) runs each gateway
 * under valgrind's callgrind and prints instructions per request (PROBE_N of each kind): slow (minutes),
 * but not moved by other processes' load. A baseline tree: `git archive <commit> | tar -x -C <dir>` and
 * a copy of node_modules in it.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { SignJWT } from "jose";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectBus, createLogger, parseEnv } from "@dsb/runtime";
import { call } from "./http.ts";
import { freePort, NATS_URL } from "./setup.ts";
import { cacheBucket } from "../../../gateway/src/cache/kv-store.ts";
import { claimsBucket } from "../../../gateway/src/cache/kv-flight.ts";

const SECRET = "x".repeat(40);
const ns = process.env.NS ?? `gwab${process.pid}`;
const here = resolve(import.meta.dirname, "probe-gateway.ts");

if (process.argv[2] === "gw") {
  const root = process.argv[3]!;
  const { startGateway } = await import(resolve(root, "gateway/src/node.ts")) as typeof import("../../../gateway/src/node.ts");
  const env = parseEnv({ NATS_URL, BUS_NAMESPACE: ns, LOG_LEVEL: "warn", ENCRYPTION_KEY: "x", JWT_SECRET: SECRET, PORT: process.argv[4], HOST: "127.0.0.1" });
  const log = createLogger("gateway", "warn");
  const bus = await connectBus(env, "gateway", log);
  await startGateway({ env, bus, log, store: {} as never });
  process.send!("up");
  process.on("SIGINT", () => process.exit(0));
} else {
  const trees = process.argv.slice(2).map((t) => resolve(t));
  if (trees.length === 0) throw new Error("usage: probe-gateway-ab.ts <tree> [<tree>...]");
  const seconds = Number(process.env.PROBE_SECONDS ?? 2);
  const rounds = Number(process.env.PROBE_ROUNDS ?? 5);
  const stub = fork(here, ["stub"], { execArgv: ["--import", "tsx"], env: { ...process.env, NS: ns } });
  await new Promise((r) => stub.once("message", r));
  const gws: { tree: string; proc: ChildProcess; url: string }[] = [];
  /** PROBE_CALLGRIND=<dir>: each gateway runs under valgrind's callgrind, counting instructions only while a kind is measured. */
  const callgrind = process.env.PROBE_CALLGRIND;
  for (const [i, tree] of trees.entries()) {
    const port = await freePort();
    const node = ["--import", "tsx", ...(process.env.GWPROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.GWPROF}`] : [])];
    const proc = fork(import.meta.filename, ["gw", tree, String(port)], {
      ...(callgrind
        ? { execPath: "valgrind", execArgv: ["--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${callgrind}/gw${i}.%p.out`, process.execPath, ...node] }
        : { execArgv: node }),
      env: { ...process.env, NS: ns }, stdio: ["ignore", "ignore", callgrind ? "ignore" : "inherit", "ipc"],
    });
    await new Promise((r) => proc.once("message", r));
    gws.push({ tree, proc, url: `http://127.0.0.1:${port}` });
  }
  const token = await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
  const post = (url: string, body: unknown) => async () => {
    const r = await call(url, token, "POST", "/api/data/sources/s1/query", body);
    if (r.status !== 200) throw new Error(r.body.toString());
  };
  const kinds = {
    healthz: (url: string) => async () => { await call(url, token, "GET", "/healthz"); },
    query: (url: string) => post(url, { sql: "select 1", limit: 100 }),
    cached: (url: string) => post(url, { sql: "select 1", limit: 100, cache_ttl_seconds: 3600 }),
  };
  const cpuMs = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  };
  const only = process.env.PROBE_KINDS?.split(",");
  // JIT warm-up, not counted.
  for (const [kind, make] of Object.entries(kinds)) for (const gw of only && !only.includes(kind) ? [] : gws) {
    const fn = make(gw.url);
    const end = performance.now() + Number(process.env.PROBE_WARM ?? 2) * 1000;
    await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < end) await fn(); }));
  }
  if (callgrind) {
    // Instructions per request, the same on a busy machine as on a quiet one: PROBE_N requests of each kind, c=32.
    const n = Number(process.env.PROBE_N ?? 2000);
    const { execFileSync } = await import("node:child_process");
    const { readdirSync, readFileSync: read } = await import("node:fs");
    const irOf = (i: number) => {
      execFileSync("callgrind_control", ["-d", String(gws[i]!.proc.pid)]);
      const files = readdirSync(callgrind).filter((f) => f.startsWith(`gw${i}.`)).sort();
      const text = read(`${callgrind}/${files.at(-1)}`, "utf8");
      return Number(/^totals: (\d+)/m.exec(text)?.[1] ?? /^summary: (\d+)/m.exec(text)?.[1]);
    };
    for (const [kind, make] of Object.entries(kinds)) {
      if (only && !only.includes(kind)) continue;
      for (const [i, gw] of gws.entries()) {
        const fn = make(gw.url);
        let next = 0;
        execFileSync("callgrind_control", ["-i", "on", String(gw.proc.pid)]);
        await Promise.all(Array.from({ length: 32 }, async () => { while (next++ < n) await fn(); }));
        execFileSync("callgrind_control", ["-i", "off", String(gw.proc.pid)]);
        console.log(`${kind}\t${gw.tree}\tinstructions/req ${Math.round(irOf(i) / n)}`);
        execFileSync("callgrind_control", ["-z", String(gw.proc.pid)]);
      }
    }
  }
  const results = new Map<string, { us: number[]; qps: number[] }>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? gws : [...gws].reverse();
    for (const [kind, make] of Object.entries(kinds)) {
      if (only && !only.includes(kind)) continue;
      for (const gw of order) {
        const fn = make(gw.url);
        for (let i = 0; i < 300; i++) await fn();
        const cpu0 = cpuMs(gw.proc.pid!);
        const end = performance.now() + seconds * 1000;
        let n = 0;
        await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < end) { await fn(); n++; } }));
        const key = `${kind}\t${gw.tree}`;
        const r = results.get(key) ?? { us: [], qps: [] };
        r.us.push(Math.round(((cpuMs(gw.proc.pid!) - cpu0) * 1000) / n));
        r.qps.push(Math.round(n / seconds));
        results.set(key, r);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [key, r] of results) console.log(`${key}\tgateway µs/req median ${median(r.us)}  [${r.us.join(" ")}]  q/s median ${median(r.qps)}`);
  for (const gw of gws) gw.proc.kill("SIGINT");
  stub.kill();
  await new Promise((r) => setTimeout(r, 500));
  // The run's cache buckets would outlive it on the shared NATS.
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for (const bucket of [cacheBucket(ns), claimsBucket(cacheBucket(ns))]) await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
  await nc.close();
  process.exit(0);
}
