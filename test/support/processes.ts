/**
 * Processes of the harnesses (cluster.ts, the bench's baselines): bundles run as OS
 * processes with their output in a log file, stopping a child, and admin statements on PostgreSQL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { resolve } from "node:path";
import pg from "pg";
import { buildDist, BUNDLES, type Deployable } from "./build.ts";

export const ROOT = resolve(import.meta.dirname, "../..");

/** One statement as the PostgreSQL admin of `adminUrl` (create/drop database…). */
export async function adminQuery(adminUrl: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** The same server as `adminUrl`, another database. */
export function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Where Debian and Ubuntu put jemalloc (package libjemalloc2). */
const JEMALLOC = ["/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/local/lib/libjemalloc.so.2"];

/**
 * The allocator the image preloads (Dockerfile: glibc's malloc kept freed memory resident after
 * load), when this machine has it and the caller chose no other preload; nothing otherwise.
 */
export function jemallocPreload(env: Record<string, string | undefined>): Record<string, string> {
  if (env.LD_PRELOAD !== undefined || process.platform !== "linux") return {};
  const lib = JEMALLOC.find((p) => existsSync(p));
  // As in the image: its background thread purges freed pages while the process is idle; two arenas.
  return lib ? { LD_PRELOAD: lib, MALLOC_CONF: env.MALLOC_CONF ?? "background_thread:true,narenas:2" } : {};
}

/** A running bundle (`node dist/<service>.js`, built first when stale, on jemalloc as in the image), stdout and stderr appended to `logFile`. */
export function spawnBundle(service: Deployable, opts: { env: Record<string, string>; logFile: string; nodeArgs?: string[] }): { proc: ChildProcess; exited: Promise<number | null> } {
  buildDist();
  const out = createWriteStream(opts.logFile, { flags: "a" });
  const env = { ...jemallocPreload(opts.env), ...opts.env };
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), resolve(ROOT, BUNDLES[service])], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.pipe(out, { end: false });
  proc.stderr!.pipe(out, { end: false });
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return { proc, exited };
}

/** Stops a child: SIGTERM, then SIGKILL after a grace period. */
export async function stopChild(p: ChildProcess, graceMs = 3000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}
