/**
 * Processes of the harnesses (cluster.ts, the bench's baselines): bundles run as OS
 * processes with their output in a log file, stopping a child, and admin statements on PostgreSQL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
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

/** A running bundle (`node dist/<service>.js`, built first when stale), stdout and stderr appended to `logFile`. */
export function spawnBundle(service: Deployable, opts: { env: Record<string, string>; logFile: string; nodeArgs?: string[] }): { proc: ChildProcess; exited: Promise<number | null> } {
  buildDist();
  const out = createWriteStream(opts.logFile, { flags: "a" });
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), resolve(ROOT, BUNDLES[service])], { cwd: ROOT, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
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
