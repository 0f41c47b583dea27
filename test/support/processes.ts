/**
 * What the process-spawning harnesses share (test/bench/lib/cluster.ts for the
 * benchmarks, test/scale/cluster.ts for the multi-process tests): bundles run as
 * OS processes with their output in a log file, and admin statements on PostgreSQL.
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
