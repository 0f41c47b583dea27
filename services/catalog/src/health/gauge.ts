import { sql } from "kysely";
import { HEALTH_STATUSES } from "@dsb/contracts";
import { ds, type Logger } from "@dsb/runtime";
import type { CatalogDb } from "../db/types.ts";

/** How often ds_health_sources is recounted (one grouped count over the active database sources). */
const EVERY_MS = 15_000;

/**
 * Keeps ds_health_sources{status} current: active database sources per health status,
 * counted across tenants (no ids in labels). Every catalog replica reports the same
 * numbers; alert on max(), not sum().
 */
export function startHealthGauge(db: CatalogDb, log: Logger): { stop(): void } {
  const gauge = ds.healthSources();
  const update = async () => {
    try {
      const { rows } = await sql<{ status: string; n: number }>`
        select coalesce(h.status, 'unknown') as status, count(*)::int as n
        from data_sources s left join data_source_health h on h.source_id = s.id
        where s.is_active and s.type = 'database' group by 1`.execute(db);
      for (const status of HEALTH_STATUSES) gauge.set({ status }, rows.find((r) => r.status === status)?.n ?? 0);
    } catch (e) {
      log.debug({ err: (e as Error).message }, "health gauge not updated");
    }
  };
  void update();
  const timer = setInterval(() => void update(), EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
