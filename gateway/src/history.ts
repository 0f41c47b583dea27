import type { Bus } from "@dsb/bus";
import type { Actor, QueryRequest } from "@dsb/contracts";
import type { GatewayDeps } from "./deps.ts";
import { asAppError } from "./errors.ts";

export interface QueryOutcome {
  ok: boolean;
  error?: string;
  count: number | null;
  ms: number;
}

/**
 * Writes query history without holding up the answer: the id is chosen here,
 * the write runs behind the response, and a history read through this gateway
 * first waits for that source's writes still in flight (read-your-writes).
 */
export function createQueryHistory(bus: Bus, log: GatewayDeps["log"]) {
  const inFlight = new Map<string, Set<Promise<unknown>>>();
  return {
    record(actor: Actor, sourceId: string, q: QueryRequest, outcome: QueryOutcome, requestId: string): string {
      const id = crypto.randomUUID();
      const write = bus.request("catalog.history.record", {
        actor,
        entry: {
          id, data_source_id: sourceId, query: q.sql ?? null, query_config: (q.query_config as Record<string, unknown> | undefined) ?? null,
          natural_language_query: q.natural_language_query ?? null, status: outcome.ok ? "success" : "error", error: outcome.error ?? null,
          result_count: outcome.count, execution_time_ms: Math.round(outcome.ms),
        },
      }, { requestId }).catch((e) => log?.warn({ requestId, code: asAppError(e).code }, "⚠️ could not record query history"));
      const set = inFlight.get(sourceId) ?? new Set();
      set.add(write);
      inFlight.set(sourceId, set);
      void write.finally(() => {
        set.delete(write);
        if (set.size === 0 && inFlight.get(sourceId) === set) inFlight.delete(sourceId);
      });
      return id;
    },
    /** Resolves once every history write of this source started here has landed (or failed). */
    async settled(sourceId: string): Promise<void> {
      const set = inFlight.get(sourceId);
      if (set) await Promise.allSettled([...set]);
    },
  };
}
export type QueryHistory = ReturnType<typeof createQueryHistory>;
