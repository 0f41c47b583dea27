import type { Bus } from "@dsb/bus";
import { HISTORY_BATCH_MAX, type Actor, type QueryRequest, type RequestOf } from "@dsb/contracts";
import type { GatewayDeps } from "./deps.ts";
import { asAppError } from "./errors.ts";

export interface QueryOutcome {
  ok: boolean;
  error?: string;
  count: number | null;
  ms: number;
}

type HistoryRecord = RequestOf<"catalog.history.record">;

/** How long a history entry may wait for others to share its batch (fewer messages and INSERTs at any rate). */
const BATCH_WAIT_MS = 10;

/**
 * Writes query history without holding up the answer: the id is chosen here
 * and the write runs behind the response. An entry waits up to BATCH_WAIT_MS for
 * others, and one batch is on the bus at a time (entries made meanwhile go
 * together in the next), so the catalog gets one message and one INSERT per
 * burst instead of one per query.
 * A history read through this gateway first waits for that source's writes
 * still in flight (read-your-writes).
 */
export function createQueryHistory(bus: Bus, log: GatewayDeps["log"]) {
  const inFlight = new Map<string, Set<Promise<unknown>>>();
  let queue: { record: HistoryRecord; requestId: string; landed: () => void }[] = [];
  let sending = false;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const send = async () => {
    timer = null;
    sending = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, HISTORY_BATCH_MAX);
      queue = queue.slice(batch.length);
      const requestId = batch[0]!.requestId;
      try {
        // An id comes back null when its source was deleted while the query ran: nothing to record.
        await bus.request("catalog.history.record_batch", { records: batch.map((b) => b.record) }, { requestId });
      } catch (e) {
        log?.warn({ requestId, code: asAppError(e).code, records: batch.length }, "⚠️ could not record query history");
      } finally {
        for (const b of batch) b.landed();
      }
    }
    sending = false;
  };

  return {
    record(actor: Actor, sourceId: string, q: QueryRequest, outcome: QueryOutcome, requestId: string): string {
      const id = crypto.randomUUID();
      const record: HistoryRecord = {
        actor,
        entry: {
          id, data_source_id: sourceId, query: q.sql ?? (q.pipeline ? JSON.stringify({ collection: q.collection, pipeline: q.pipeline }) : null), query_config: (q.query_config as Record<string, unknown> | undefined) ?? null,
          natural_language_query: q.natural_language_query ?? null, status: outcome.ok ? "success" : "error", error: outcome.error ?? null,
          result_count: outcome.count, execution_time_ms: Math.round(outcome.ms),
        },
      };
      const write = new Promise<void>((landed) => queue.push({ record, requestId, landed }));
      if (!sending && !timer) timer = setTimeout(() => void send(), BATCH_WAIT_MS);
      const set = inFlight.get(sourceId) ?? new Set();
      set.add(write);
      inFlight.set(sourceId, set);
      void write.then(() => {
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
