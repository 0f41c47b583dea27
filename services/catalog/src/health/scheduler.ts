import { AppError, type CheckResult } from "@dsb/contracts";
import type { Bus } from "@dsb/bus";
import type { Logger } from "@dsb/runtime";
import type { CatalogDb } from "../db/types.ts";
import type { SchedulerLease } from "./lease.ts";
import { ensureHealthRows, recordCheck, releaseClaim, claimDue, type RecordedCheck } from "./store.ts";
import type { HealthPolicy } from "./state.ts";

/** Bus wait beyond the check's own timeout before "no connector answered". */
const REPLY_MARGIN_MS = 5_000;
/** How often sources without a health row (written by the Python system) get one. */
const ENSURE_EVERY_MS = 30_000;

/** What the catalog does with a check, scheduled or asked for. */
export interface HealthChecker {
  /** Runs one check through the connector queue group; AppError when it did not run (no connector answered). */
  check(tenantId: string, id: string): Promise<CheckResult>;
  /** Stores a check's result; publishes and logs a change of status (once, not per check). */
  record(tenantId: string, id: string, r: CheckResult): Promise<RecordedCheck | null>;
}

export function createHealthChecker(deps: { db: CatalogDb; bus: Bus; log: Logger; policy: HealthPolicy }): HealthChecker {
  const { db, bus, log, policy } = deps;
  return {
    check: (tenantId, id) => bus.request("connector.health.check", { tenant_id: tenantId, id, timeout_ms: policy.timeoutMs },
      { timeoutMs: policy.timeoutMs + REPLY_MARGIN_MS }),
    record: async (tenantId, id, r) => {
      const recorded = await recordCheck(db, tenantId, id, r, policy);
      if (recorded && recorded.health.status !== recorded.previous) {
        const { status } = recorded.health;
        bus.publish("catalog.events.source.health", { id, tenant_id: tenantId, status, previous: recorded.previous, checked_at: recorded.health.checked_at ?? new Date().toISOString() });
        const line = { tenant_id: tenantId, source_id: id, status, previous: recorded.previous, error: recorded.health.error?.code, latency_ms: recorded.health.latency_ms };
        if (status === "healthy") log.info(line, "💚 source healthy");
        else log.warn(line, status === "unhealthy" ? "🔴 source unhealthy" : "🟠 source degraded");
      }
      return recorded;
    },
  };
}

/**
 * The health scheduler: while this replica holds the lease, every tick claims the
 * due sources (up to the free concurrency slots) and checks each independently,
 * never one after another, so a hanging source only ever holds its own slot
 * (until HEALTH_CHECK_TIMEOUT_MS). A check no connector answered is not a
 * failure of the source: it is retried later and the health stays as it was.
 */
export function startHealthScheduler(deps: { db: CatalogDb; log: Logger; policy: HealthPolicy; lease: SchedulerLease; checker: HealthChecker }): { stop(): Promise<void> } {
  const { db, log, policy, lease, checker } = deps;
  const inFlight = new Map<string, Promise<void>>();
  const tickMs = Math.min(1000, Math.max(50, policy.intervalMs / 4));
  let lastEnsure = 0;
  let unanswered = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const run = async (tenantId: string, id: string) => {
    let r: CheckResult;
    try {
      r = await checker.check(tenantId, id);
    } catch (e) {
      if (e instanceof AppError && e.code === "NOT_FOUND") return; // deleted meanwhile
      // Logged once per outage, not per source and round.
      if (!unanswered) log.warn({ code: e instanceof AppError ? e.code : "INTERNAL" }, "⚠️ health checks got no answer from any connector; retrying");
      unanswered = true;
      await releaseClaim(db, id, Math.min(policy.backoffBaseMs, policy.intervalMs));
      return;
    }
    if (unanswered) log.info("✅ connectors answer health checks again");
    unanswered = false;
    if (!stopped) await checker.record(tenantId, id, r);
  };

  /** True when the last round filled every free slot: more sources may be due, so a freed slot claims at once. */
  let backlog = false;
  let ticking = false;

  const tick = async () => {
    if (!lease.held()) return;
    const free = policy.concurrency - inFlight.size;
    if (free <= 0) { backlog = true; return; }
    if (Date.now() - lastEnsure > ENSURE_EVERY_MS) {
      await ensureHealthRows(db);
      lastEnsure = Date.now();
    }
    const due = await claimDue(db, free, policy.timeoutMs + 2 * REPLY_MARGIN_MS);
    backlog = due.length === free;
    for (const d of due) {
      if (inFlight.has(d.source_id)) continue;
      const p = run(d.tenant_id, d.source_id)
        .catch((err) => { if (!stopped) log.error({ err, source_id: d.source_id }, "❌ health check could not be stored"); })
        .finally(() => {
          inFlight.delete(d.source_id);
          // Behind schedule: the freed slot takes the next due source now, not at the next tick.
          if (backlog && !ticking && !stopped) schedule(0);
        });
      inFlight.set(d.source_id, p);
    }
  };

  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => void loop(), ms);
  };
  const loop = async () => {
    ticking = true;
    try {
      await tick();
    } catch (err) {
      log.warn({ err }, "⚠️ health scheduler round failed");
    } finally {
      ticking = false;
    }
    if (!stopped) schedule(tickMs);
  };
  schedule(0);
  log.info({ interval_s: policy.intervalMs / 1000, concurrency: policy.concurrency }, "🩺 health monitoring on");
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await lease.stop();
      // Checks in flight are not waited for (up to HEALTH_CHECK_TIMEOUT_MS): their claims lapse and the next scheduler retakes them.
    },
  };
}
