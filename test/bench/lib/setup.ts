/**
 * What a bench run shares: the machine's PostgreSQL and NATS, unique names, the cleanups run at
 * its end (also on failure and Ctrl-C), and the system under test (test/support/cluster.ts).
 */
import { Cluster, uniqueName } from "../../support/cluster.ts";
import { adminQuery as adminQueryAs, databaseUrl } from "../../support/processes.ts";

export { ROOT, stopChild } from "../../support/processes.ts";
export { freePort } from "../../support/nats-server.ts";
export { ENCRYPTION_KEY, JWT_SECRET, uniqueName, type Cluster } from "../../support/cluster.ts";
export const PG_ADMIN = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";

export const pgUrl = (database: string): string => databaseUrl(PG_ADMIN, database);

export async function adminQuery(sql: string): Promise<void> {
  await adminQueryAs(PG_ADMIN, sql);
}

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

/**
 * The system in distributed mode, one process per service, on the machine's NATS (or `natsUrl`)
 * under a namespace of its own, with this process's variables passed on (BENCH_NODE_ARGS as node flags).
 */
export async function startCluster(opts: { natsUrl?: string; env?: Record<string, string> } = {}): Promise<Cluster> {
  const cluster = await Cluster.start({
    natsUrl: opts.natsUrl ?? NATS_URL, env: opts.env, namespace: uniqueName("bench"), adminUrl: PG_ADMIN, inheritEnv: true,
    nodeArgs: (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean),
    keepLogs: Boolean(process.env.BENCH_KEEP_LOGS), identity: { tenant: "bench", user: "bench-user", role: "admin" },
  });
  onCleanup(() => cluster.stop());
  return cluster;
}
