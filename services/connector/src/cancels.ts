/** How long a cancel is remembered for a query this replica has not seen (yet). */
const REMEMBER_MS = 60_000;
/** Most remembered cancels; the oldest go first. */
const REMEMBER_MAX = 10_000;

interface Running {
  tenantId: string;
  stop: () => void;
}

/**
 * The queries this connector replica runs, by the gateway's query id, so that
 * `gateway.events.query.cancelled` (heard by every replica) stops the one that
 * runs it: while its first page is computed and while its cursor is held.
 * A cancel for an id not running here is remembered for a minute: the event can
 * overtake the query it cancels (another subject, another subscription), and
 * the query then stops as soon as it registers.
 */
export class CancelRegistry {
  private readonly running = new Map<string, Running>();
  private readonly cancelled = new Map<string, { tenantId: string; until: number }>();

  /** Registers a query; `stop` runs at once if it was cancelled already. Returns the unregister function. */
  register(queryId: string, tenantId: string, stop: () => void): () => void {
    const early = this.cancelled.get(queryId);
    if (early && early.tenantId === tenantId && early.until > Date.now()) {
      this.cancelled.delete(queryId);
      stop();
      return () => {};
    }
    const entry: Running = { tenantId, stop };
    this.running.set(queryId, entry);
    return () => {
      if (this.running.get(queryId) === entry) this.running.delete(queryId);
    };
  }

  /** Stops the query if it runs here (same tenant only); true when it did. */
  cancel(queryId: string, tenantId: string): boolean {
    const r = this.running.get(queryId);
    if (r && r.tenantId === tenantId) {
      this.running.delete(queryId);
      r.stop();
      return true;
    }
    if (!r) this.remember(queryId, tenantId);
    return false;
  }

  private remember(queryId: string, tenantId: string): void {
    const now = Date.now();
    for (const [id, c] of this.cancelled) {
      if (c.until > now && this.cancelled.size < REMEMBER_MAX) break;
      this.cancelled.delete(id);
    }
    this.cancelled.set(queryId, { tenantId, until: now + REMEMBER_MS });
  }
}
