import type { Bus } from "@dsb/bus";
import { AppError, type Actor } from "@dsb/contracts";

/** How long a cancel waits for the gateway replica running the query to answer; silence means none runs it. */
export const CANCEL_FANOUT_MS = 1000;

/** What history records for a cancelled query (API.md). */
export const CANCELLED_HISTORY_ERROR = "Cancelled";

/**
 * A one-shot cancellation: what an AbortSignal does here, without its cost (creating an
 * AbortSignal and adding/removing its listeners is ~20–30 µs per query on Node 20).
 */
export class Cancellation {
  aborted = false;
  reason: unknown = undefined;
  /** Made on the first listener: a query answered from the cache never waits on one. */
  private listeners: Set<() => void> | undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of [...listeners]) l();
  }

  /** Calls `f` once when aborted (at once if it already is); returns how to stop listening. */
  onAbort(f: () => void): () => void {
    if (this.aborted) {
      f();
      return () => {};
    }
    const listeners = (this.listeners ??= new Set());
    listeners.add(f);
    return () => listeners.delete(f);
  }
}

/** A query this gateway replica answers, from its first byte to its last. */
export interface RunningQuery {
  readonly id: string;
  readonly actor: Actor;
  /** Aborts (with a CANCELLED AppError as reason) when the query is cancelled by id or its client goes away. */
  readonly signal: Cancellation;
  /** Stops the query: the gateway's waits end with CANCELLED, the connector stops it on the database. */
  cancel(): void;
  /** The query answered (or failed): no longer cancellable, its id free again. */
  done(): void;
}

/** `p`, unless `signal` aborts first: then its reason. */
export function untilAborted<T>(p: Promise<T>, signal: Cancellation | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const stop = signal.onAbort(() => reject(signal.reason));
    p.then(
      (v) => { stop(); resolve(v); },
      (e: unknown) => { stop(); reject(e); },
    );
  });
}

/**
 * The queries this gateway replica runs, by query id (DESIGN.md: the gateway owns query ids).
 * A cancel received here for a query run here is answered at once; otherwise it is asked of
 * every gateway replica on the fanout subject `gateway.query.cancel`, and the one running it
 * answers (docs/decisions.md §18).
 */
export function createRunningQueries(bus: Bus) {
  const running = new Map<string, RunningQuery>();

  const start = (id: string, actor: Actor): RunningQuery => {
    if (running.has(id)) throw new AppError("CONFLICT", `A query with id ${id} is running; send another query_id, or cancel that query first`);
    const ac = new Cancellation();
    let over = false;
    const q: RunningQuery = {
      id, actor, signal: ac,
      cancel() {
        if (over) return;
        over = true;
        running.delete(id);
        ac.abort(new AppError("CANCELLED", `Query ${id} was cancelled`));
        bus.publish("gateway.events.query.cancelled", { query_id: id, tenant_id: actor.tenant_id });
      },
      done() {
        over = true;
        if (running.get(id) === q) running.delete(id);
      },
    };
    running.set(id, q);
    return q;
  };

  /**
   * Cancels query `id` on behalf of `actor` if this replica runs it: null when it does not.
   * Another tenant's query is NOT_FOUND, another user's FORBIDDEN unless the actor is an admin.
   */
  const cancelHere = (actor: Actor, id: string): { cancelled: true } | null => {
    const q = running.get(id);
    if (!q) return null;
    if (q.actor.tenant_id !== actor.tenant_id) throw notRunning(id);
    if (q.actor.user_id !== actor.user_id && actor.role !== "admin")
      throw new AppError("FORBIDDEN", "Only the user who ran this query, or an admin, may cancel it");
    q.cancel();
    return { cancelled: true };
  };

  return {
    start,
    /** Cancels a query of the actor's tenant wherever it runs; NOT_FOUND when no gateway replica runs it. */
    async cancel(actor: Actor, id: string, requestId: string): Promise<void> {
      if (cancelHere(actor, id)) return;
      const r = await bus.requestFirst("gateway.query.cancel", { actor, query_id: id }, { timeoutMs: CANCEL_FANOUT_MS, requestId });
      if (!r) throw notRunning(id);
    },
    /** Answers other replicas' `gateway.query.cancel` for the queries run here. */
    listen: () => bus.listen("gateway.query.cancel", async (req) => cancelHere(req.actor, req.query_id)),
  };
}
export type RunningQueries = ReturnType<typeof createRunningQueries>;

const notRunning = (id: string) => new AppError("NOT_FOUND", `No query with id ${id} is running (it finished, was cancelled, or never ran)`);
