import { DB_TYPES } from "@dsb/contracts";
import { ds } from "@dsb/runtime";
import type { PoolRegistry } from "./pools.ts";

/** How often ds_pool_connections and ds_pool_waiting are refreshed from the pools. */
const EVERY_MS = 5_000;

/** Keeps the pool gauges of this connector current (by database type only). */
export function startPoolGauges(pools: PoolRegistry): { stop(): void } {
  const connections = ds.poolConnections();
  const waiting = ds.poolWaiting();
  const update = () => {
    const stats = pools.connectionStats();
    for (const db_type of new Set<string>([...DB_TYPES, ...stats.keys()])) {
      const s = stats.get(db_type) ?? { active: 0, idle: 0, waiting: 0 };
      connections.set({ db_type, state: "active" }, s.active);
      connections.set({ db_type, state: "idle" }, s.idle);
      waiting.set({ db_type }, s.waiting);
    }
  };
  update();
  const timer = setInterval(update, EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
