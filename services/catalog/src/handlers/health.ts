import { AppError, HEALTH_SEVERITY, HEALTH_STATUSES, UNKNOWN_HEALTH, type HealthStatus } from "@dsb/contracts";
import type { Handlers } from "@dsb/bus";
import { healthOf, listChecks, tenantHealth } from "../health/store.ts";
import { findActiveSource, type CatalogDeps } from "./deps.ts";

const notDatabase = () => new AppError("VALIDATION", "Health is monitored for database sources only; this source is a file");

export function healthHandlers({ db, health }: CatalogDeps): Handlers<"catalog.health.test" | "catalog.health.get" | "catalog.health.list"> {
  return {
    "catalog.health.test": async ({ actor, id }) => {
      const src = await findActiveSource(db, actor.tenant_id, id);
      if (src.type !== "database") throw notDatabase();
      const check = await health.check(actor.tenant_id, id);
      const recorded = await health.record(actor.tenant_id, id, check);
      return { check, health: recorded?.health ?? UNKNOWN_HEALTH };
    },

    "catalog.health.get": async ({ actor, id }) => {
      const src = await findActiveSource(db, actor.tenant_id, id);
      if (src.type !== "database") throw notDatabase();
      const [h, checks] = await Promise.all([healthOf(db, actor.tenant_id, [id]), listChecks(db, actor.tenant_id, id)]);
      return { health: h.get(id) ?? UNKNOWN_HEALTH, checks };
    },

    "catalog.health.list": async ({ actor }) => {
      const sources = await tenantHealth(db, actor.tenant_id);
      const counts = Object.fromEntries(HEALTH_STATUSES.map((s) => [s, 0])) as Record<HealthStatus, number>;
      for (const s of sources) counts[s.health.status]++;
      // Worst first; among equals the longest failing, then by name.
      sources.sort((a, b) => HEALTH_SEVERITY[a.health.status] - HEALTH_SEVERITY[b.health.status]
        || b.health.consecutive_failures - a.health.consecutive_failures || a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
      return { counts, sources };
    },
  };
}
