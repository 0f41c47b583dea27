import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { freePort } from "../../support/nats-server.ts";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { uploadBucket } from "@dsb/storage";
import { buildDist, BUNDLES, DEV_ENCRYPTION_KEY, type Deployable } from "../../support/build.ts";
import { adminQuery as adminQueryAs, databaseUrl, ROOT, spawnBundle } from "../../support/processes.ts";

export { ROOT };
export const PG_ADMIN = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
export const JWT_SECRET = "bench-secret-0123456789-0123456789-abcdef";
export const ENCRYPTION_KEY = DEV_ENCRYPTION_KEY;
const SERVICES = BUNDLES;
export type ServiceName = Deployable;

export const uniqueName = (prefix: string) => `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export const pgUrl = (database: string): string => databaseUrl(PG_ADMIN, database);

export async function adminQuery(sql: string): Promise<void> {
  await adminQueryAs(PG_ADMIN, sql);
}

export { freePort };

/** Everything a run created, torn down by `cleanup` (also on failure and Ctrl-C). */
const cleanups: (() => Promise<void> | void)[] = [];
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}
export async function cleanup(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (e) {
      console.error("cleanup:", e instanceof Error ? e.message : e);
    }
  }
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

export interface Cluster {
  url: string;
  namespace: string;
  /** Current process ids (change when a crashed service is restarted). */
  pids: Record<ServiceName, number>;
  logDir: string;
  token(): Promise<string>;
  /** Services whose process has exited. */
  dead(): ServiceName[];
  /** Starts again every service that exited (as a supervisor would) and waits until ready; returns their names. */
  restartDead(): Promise<ServiceName[]>;
  stop(): Promise<void>;
}

/** Last lines of each service's log, for a failure message. */
export function logTails(logDir: string, lines = 15): string {
  return Object.keys(SERVICES).map((s) => {
    let text = "";
    try { text = readFileSync(join(logDir, `${s}.log`), "utf8"); } catch { /* not started */ }
    return `--- ${s} ---\n${text.trimEnd().split("\n").slice(-lines).join("\n")}`;
  }).join("\n");
}

/**
 * The system in distributed mode: gateway, catalog, connector and ingestion
 * as four OS processes (`node dist/<service>.js`, bundled first) on the machine's NATS,
 * with the catalog in a fresh PostgreSQL database and a bus namespace of its own.
 */
export async function startCluster(extraEnv: Record<string, string> = {}): Promise<Cluster> {
  buildDist();
  const namespace = uniqueName("bench");
  // The run's upload bucket (one per namespace) goes at the end: deleting a source only soft-deletes its files.
  onCleanup(async () => {
    const nc = await connect({ servers: NATS_URL });
    await (await jetstreamManager(nc)).streams.delete(`OBJ_${uploadBucket(namespace)}`).catch(() => undefined);
    await nc.close();
  });
  const catalogDb = uniqueName("dsb_bench_catalog");
  await adminQuery(`create database ${catalogDb}`);
  onCleanup(() => adminQuery(`drop database if exists ${catalogDb} with (force)`));
  const logDir = mkdtempSync(join(tmpdir(), "dsb-bench-"));
  onCleanup(() => {
    if (process.env.BENCH_KEEP_LOGS) console.log(`service logs kept in ${logDir}`);
    else rmSync(logDir, { recursive: true, force: true });
  });
  const port = await freePort();
  const env: Record<string, string> = {
    ...process.env as Record<string, string>,
    NATS_URL, DATABASE_URL: pgUrl(catalogDb), BUS_NAMESPACE: namespace, ENCRYPTION_KEY, JWT_SECRET,
    ALLOW_PRIVATE_HOSTS: "true", PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", DATA_DIR: join(logDir, "data"),
    ...extraEnv,
  };
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const children = {} as Record<ServiceName, ChildProcess>;
  const pids = {} as Record<ServiceName, number>;
  const stop = async () => {
    await Promise.all(Object.values(children).map((c) => stopChild(c)));
  };
  onCleanup(stop);
  const spawnService = (name: ServiceName) => {
    const { proc: child } = spawnBundle(name, { env: { ...env, REPLICA_ID: `${namespace}-${name}` }, logFile: join(logDir, `${name}.log`), nodeArgs });
    children[name] = child;
    pids[name] = child.pid!;
  };
  const url = `http://127.0.0.1:${port}`;
  const dead = () => (Object.keys(children) as ServiceName[]).filter((n) => children[n].exitCode !== null || children[n].signalCode !== null);
  const waitReady = async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const gone = dead();
      if (gone.length) throw new Error(`${gone.join(", ")} exited during start-up\n${logTails(logDir)}`);
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`system not ready after 60 s\n${logTails(logDir)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  // The catalog first: it migrates its database before anyone asks it something.
  for (const name of ["catalog", "connector", "ingestion", "gateway"] as const) spawnService(name);
  await waitReady();
  const key = new TextEncoder().encode(JWT_SECRET);
  const tok = await new SignJWT({ tenant_id: "bench", role: "admin" }).setProtectedHeader({ alg: "HS256" })
    .setSubject("bench-user").setExpirationTime("6h").sign(key);
  return {
    url, namespace, logDir, pids,
    token: async () => tok,
    dead,
    restartDead: async () => {
      const gone = dead();
      for (const name of gone) spawnService(name);
      if (gone.length) await waitReady();
      return gone;
    },
    stop,
  };
}
