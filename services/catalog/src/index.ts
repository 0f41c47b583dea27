import type { Bus } from "@dsb/bus";
import { natsConnectionOf, type Env, type Logger } from "@dsb/runtime";
import { loadKeys } from "./crypto/keys.ts";
import { migrate } from "./db/migrate.ts";
import { openDatabase } from "./db/open.ts";
import type { CatalogDb } from "./db/types.ts";
import { catalogHandlers } from "./handlers/index.ts";
import { healthBucket, kvLease, soleLease, type SchedulerLease } from "./health/lease.ts";
import { createHealthChecker, startHealthScheduler } from "./health/scheduler.ts";
import { startHealthGauge } from "./health/gauge.ts";
import type { HealthPolicy } from "./health/state.ts";

export interface CatalogOptions {
  env: Env;
  bus: Bus;
  log: Logger;
  replicaId: string;
  /** An already open database (tests share it); the caller then closes it. Default: opened from env. */
  db?: CatalogDb;
}

/** Room left in a bus message for the envelope around a page of items. */
const ENVELOPE_BYTES = 16 * 1024;

/** The HEALTH_* variables in milliseconds. */
export const healthPolicy = (env: Env): HealthPolicy => ({
  intervalMs: env.HEALTH_CHECK_INTERVAL_S * 1000, degradedMs: env.HEALTH_DEGRADED_MS, timeoutMs: env.HEALTH_CHECK_TIMEOUT_MS,
  concurrency: env.HEALTH_CHECK_CONCURRENCY, backoffBaseMs: env.HEALTH_BACKOFF_BASE_S * 1000, backoffMaxMs: env.HEALTH_BACKOFF_MAX_S * 1000,
});

/**
 * One scheduler across catalog replicas: a JetStream KV lease over NATS, always
 * this one embedded. Without JetStream every replica schedules; the claims in the
 * catalog database still give each due source to one of them only.
 */
async function schedulerLease(env: Env, bus: Bus, log: Logger, replicaId: string): Promise<SchedulerLease> {
  const nc = natsConnectionOf(bus);
  if (!nc) return soleLease;
  try {
    return await kvLease(nc, { bucket: healthBucket(env.BUS_NAMESPACE), replicaId, ttlMs: env.HEALTH_LEASE_TTL_S * 1000, log });
  } catch (err) {
    log.warn({ err }, "⚠️ no JetStream KV for the health scheduler lease; every catalog replica schedules (database claims keep one check per source)");
    return soleLease;
  }
}

/**
 * Starts the catalog: checks the encryption key, opens the database, migrates,
 * and serves every catalog.* subject in the "catalog" queue group.
 */
export async function startCatalog(opts: CatalogOptions): Promise<{ stop(): Promise<void> }> {
  const { env, bus, log, replicaId } = opts;
  // Before touching the database: no key outside embedded mode means no start.
  const keys = await loadKeys(env, log);
  const db = opts.db ?? (await openDatabase(env, log));
  try {
    // Some steps rewrite a table (migration 5: ~30 s per million history rows on a small machine): say so, or a start looks hung.
    const applied = await migrate(db, (m) => log.info({ version: m.version }, `🗄️ applying catalog migration ${m.version}: ${m.name}…`));
    if (applied.length) log.info({ applied }, "🗄️ catalog migrations applied");
    const policy = healthPolicy(env);
    const health = createHealthChecker({ db, bus, log, policy });
    const served = await bus.serve("catalog", catalogHandlers({ db, keys, bus, log, maxReplyBytes: bus.maxPayload - ENVELOPE_BYTES, health }), { replicaId });
    const scheduler = env.HEALTH_MONITORING
      ? startHealthScheduler({ db, log, policy, checker: health, lease: await schedulerLease(env, bus, log, replicaId) })
      : null;
    const gauge = startHealthGauge(db, log);
    log.info({ replicaId, database: env.DATABASE_URL ? "postgresql" : "pglite" }, "🚀 catalog serving");
    return {
      stop: async () => {
        gauge.stop();
        await scheduler?.stop();
        await served.stop();
        if (!opts.db) await db.destroy();
      },
    };
  } catch (e) {
    if (!opts.db) await db.destroy().catch(() => undefined);
    throw e;
  }
}

export { openDatabase } from "./db/open.ts";
export { migrate } from "./db/migrate.ts";
export { healthBucket } from "./health/lease.ts";
export type { CatalogDb } from "./db/types.ts";
