import type { Bus } from "@dsb/bus";
import { HISTORY_BATCH_MAX, type Actor, type QueryRequest, type RequestOf } from "@dsb/contracts";
import type { GatewayDeps } from "./deps.ts";
import { asAppError } from "./errors.ts";

export interface QueryOutcome {
  ok: boolean;
  error?: string;
  count: number | null;
  ms: number;
  /** Answered from the query result cache (or an identical query running at the same time). */
  cached?: boolean;
}

type HistoryRecord = RequestOf<"catalog.history.record_batch">["records"][number];

/** Why an entry was given up: the queue was over its bound, the entry alone exceeds the bus's message size, or the catalog refused it for good. */
export const HISTORY_DROP_REASONS = ["queue_full", "too_large", "refused"] as const;
export type HistoryDropReason = (typeof HISTORY_DROP_REASONS)[number];

export interface QueryHistoryOptions {
  /** Most entries waiting to be recorded (HISTORY_QUEUE_MAX); past it the oldest are dropped. */
  maxQueued?: number;
  /** Most bytes of entries (their texts, roughly) waiting to be recorded (HISTORY_QUEUE_MAX_BYTES). */
  maxQueuedBytes?: number;
  /** First wait after a failed write; it doubles up to `retryMaxMs` (each with ±25 % jitter). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Longest a history read waits for this gateway's writes of its source (read-your-writes, but no hang during an outage). */
  settleMaxMs?: number;
  /** At most one log line about dropped entries per this long (default 5 s). */
  dropLogMs?: number;
  /** Every entry given up, for the `ds_history_dropped_total` metric. */
  onDropped?: (n: number, reason: HistoryDropReason) => void;
  /** Entries not yet recorded, after each change (`ds_history_queued`). */
  onQueued?: (n: number) => void;
  /** How long an entry may wait for others to share its batch (default BATCH_WAIT_MS). */
  batchWaitMs?: number;
}

/** How long a history entry may wait for others to share its batch (fewer messages and INSERTs at any rate). */
const BATCH_WAIT_MS = 10;
/**
 * The same in embedded mode, where the catalog's PGlite runs its INSERT on this process's
 * thread: ~1 ms of CPU per statement plus ~50-70 µs per row (a 20-row batch costs ~160 µs a
 * row, a 200-row one ~70), so batches of a tenth of a second hold the event loop far less.
 */
export const EMBEDDED_BATCH_WAIT_MS = 100;
/** Heap an entry takes besides its texts (measured: ~1.26 KB for a short query, with its promise and bookkeeping). */
const ENTRY_OVERHEAD_BYTES = 1024;

/**
 * While the catalog is away a gateway keeps answering for up to SOURCE_CACHE_MS (5 s) per source,
 * at up to ~4,000 queries/s here: ~20,000 entries. 50,000 (about 64 MiB) leaves room for that
 * and more; a NATS outage adds none (nothing is answered without the bus).
 */
export const HISTORY_DEFAULTS = {
  maxQueued: 50_000, maxQueuedBytes: 64 * 1024 * 1024, retryMinMs: 100, retryMaxMs: 5_000, settleMaxMs: 1_000, dropLogMs: 5_000,
} as const;

interface Pending {
  record: HistoryRecord;
  requestId: string;
  bytes: number;
  /** Recorded, or given up. */
  landed: boolean;
}

const sizeOf = (r: HistoryRecord) => ENTRY_OVERHEAD_BYTES + (r.entry.query?.length ?? 0) + (r.entry.natural_language_query?.length ?? 0)
  + (r.entry.error?.length ?? 0) + (r.entry.query_config ? JSON.stringify(r.entry.query_config).length : 0);

/**
 * Writes query history without holding up the answer: the id is chosen here
 * and the write runs behind the response. An entry waits up to BATCH_WAIT_MS for
 * others, and one batch is on the bus at a time (entries made meanwhile go
 * together in the next), so the catalog gets one message and one INSERT per
 * burst instead of one per query.
 *
 * A write that fails retryably (the bus or the catalog or its database away) is
 * tried again with backoff, the entries kept in order in a bounded queue: an
 * outage of any length loses nothing unless the queue overflows (see
 * HISTORY_DEFAULTS). The catalog ignores an id it already has, so a retry after a lost
 * reply records nothing twice. Whatever is given up is counted and logged.
 *
 * A history read through this gateway first waits, briefly, for that source's
 * writes still queued here (read-your-writes).
 */
export function createQueryHistory(bus: Bus, log: GatewayDeps["log"], options: QueryHistoryOptions = {}) {
  const o = {
    maxQueued: options.maxQueued ?? HISTORY_DEFAULTS.maxQueued, maxQueuedBytes: options.maxQueuedBytes ?? HISTORY_DEFAULTS.maxQueuedBytes,
    retryMinMs: options.retryMinMs ?? HISTORY_DEFAULTS.retryMinMs, retryMaxMs: options.retryMaxMs ?? HISTORY_DEFAULTS.retryMaxMs,
    settleMaxMs: options.settleMaxMs ?? HISTORY_DEFAULTS.settleMaxMs,
    dropLogMs: options.dropLogMs ?? HISTORY_DEFAULTS.dropLogMs, onDropped: options.onDropped, onQueued: options.onQueued,
    batchWaitMs: options.batchWaitMs ?? BATCH_WAIT_MS,
  };
  const queue: Pending[] = [];
  /** The batch on the bus (its entries are out of `queue` until they land or are put back). */
  let onTheBus: Pending[] = [];
  /** History reads waiting for entries of their source (`settled`): what is left of them. */
  const waiters = new Set<{ left: Set<Pending>; done: () => void }>();
  /** Entries not yet landed (queued or on the bus) and their bytes. */
  let unsettled = 0;
  let unsettledBytes = 0;
  let sending = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let batchMax = HISTORY_BATCH_MAX;
  let wake: (() => void) | null = null;
  const unlogged = new Map<HistoryDropReason, number>();
  const refusals = new Set<string>();
  let dropLogTimer: ReturnType<typeof setTimeout> | null = null;

  const landed = (entries: Pending[]) => {
    for (const p of entries) {
      unsettled--;
      unsettledBytes -= p.bytes;
      p.landed = true;
    }
    for (const w of waiters) {
      for (const p of entries) w.left.delete(p);
      if (w.left.size === 0) w.done();
    }
    o.onQueued?.(unsettled);
  };

  const drop = (entries: Pending[], reason: HistoryDropReason, code?: string) => {
    if (entries.length === 0) return;
    landed(entries);
    o.onDropped?.(entries.length, reason);
    unlogged.set(reason, (unlogged.get(reason) ?? 0) + entries.length);
    if (code) refusals.add(code);
    // One line per burst of drops: the count by reason, a few seconds after the first.
    dropLogTimer ??= setTimeout(() => {
      dropLogTimer = null;
      log?.warn({ dropped: Object.fromEntries(unlogged), queued: unsettled, ...(refusals.size ? { refused_with: [...refusals] } : {}) },
        "⚠️ query history entries dropped (not recorded)");
      unlogged.clear();
      refusals.clear();
    }, o.dropLogMs);
    (dropLogTimer as { unref?: () => void }).unref?.();
  };

  /** Drops the oldest queued entries until the queue is within its bounds. */
  const trim = () => {
    let n = 0;
    let bytes = unsettledBytes;
    while (n < queue.length && (queue.length - n > o.maxQueued || bytes > o.maxQueuedBytes)) bytes -= queue[n++]!.bytes;
    if (n > 0) drop(queue.splice(0, n), "queue_full");
  };

  /** Waits before the next attempt; `settled` (a history read) may cut it short. */
  const backoff = (failures: number) => new Promise<void>((resolve) => {
    const base = Math.min(o.retryMaxMs, o.retryMinMs * 2 ** Math.min(failures - 1, 30));
    const t = setTimeout(() => { wake = null; resolve(); }, base * (0.75 + Math.random() * 0.5));
    (t as { unref?: () => void }).unref?.(); // a closed bus must not keep a stopping process alive
    wake = () => { clearTimeout(t); wake = null; resolve(); };
  });

  const send = async () => {
    timer = null;
    sending = true;
    let failures = 0;
    while (queue.length > 0) {
      const batch = queue.splice(0, batchMax);
      onTheBus = batch;
      const requestId = batch[0]!.requestId;
      try {
        // An id comes back null when its source was deleted while the query ran: nothing to record.
        await bus.request("catalog.history.record_batch", { records: batch.map((b) => b.record) }, { requestId });
        if (failures > 0) log?.info({ requestId, attempts: failures + 1, queued: unsettled - batch.length }, "✅ query history recorded again");
        failures = 0;
        batchMax = Math.min(HISTORY_BATCH_MAX, batchMax * 2);
        landed(batch);
        continue;
      } catch (e) {
        const err = asAppError(e);
        if (err.code === "PAYLOAD_TOO_LARGE") {
          // Large texts: halve the batch until it fits; one entry that fits in no message is given up.
          if (batch.length > 1) {
            batchMax = Math.ceil(batch.length / 2);
            queue.unshift(...batch);
          } else {
            drop(batch, "too_large");
          }
          continue;
        }
        if (!err.retryable) {
          drop(batch, "refused", err.code);
          continue;
        }
        queue.unshift(...batch);
        trim();
        failures++;
        if (failures === 1) log?.warn({ requestId, code: err.code, queued: unsettled }, "⚠️ could not record query history; retrying with backoff");
      }
      await backoff(failures);
    }
    onTheBus = [];
    sending = false;
  };

  return {
    /** Records a query under `id` (its query id). */
    record(actor: Actor, sourceId: string, q: QueryRequest, outcome: QueryOutcome, requestId: string, id: string = crypto.randomUUID()): string {
      const record: HistoryRecord = {
        actor,
        entry: {
          id, data_source_id: sourceId, query: q.sql ?? (q.pipeline ? JSON.stringify({ collection: q.collection, pipeline: q.pipeline }) : null), query_config: (q.query_config as Record<string, unknown> | undefined) ?? null,
          natural_language_query: q.natural_language_query ?? null, status: outcome.ok ? "success" : "error", error: outcome.error ?? null,
          result_count: outcome.count, execution_time_ms: Math.round(outcome.ms), ...(outcome.cached ? { cached: true } : {}),
        },
      };
      const bytes = sizeOf(record);
      queue.push({ record, requestId, bytes, landed: false });
      unsettled++;
      unsettledBytes += bytes;
      trim();
      o.onQueued?.(unsettled);
      if (!sending && !timer) timer = setTimeout(() => void send(), o.batchWaitMs);
      return id;
    },
    /**
     * Resolves once every history write of this source started here has landed (or was
     * given up), or after `settleMaxMs` while they are still being retried.
     */
    async settled(sourceId: string): Promise<void> {
      // Found here rather than tracked per entry: a read is rare, an entry is made by every query.
      const left = new Set<Pending>();
      for (const list of [onTheBus, queue]) for (const p of list) if (!p.landed && p.record.entry.data_source_id === sourceId) left.add(p);
      if (left.size === 0) return;
      // Just after an outage the next attempt may be seconds away: make it now.
      wake?.();
      let t: ReturnType<typeof setTimeout> | undefined;
      let waiter: { left: Set<Pending>; done: () => void } | undefined;
      await Promise.race([
        new Promise<void>((done) => { waiter = { left, done }; waiters.add(waiter); }),
        new Promise((r) => { t = setTimeout(r, o.settleMaxMs); }),
      ]);
      waiters.delete(waiter!);
      clearTimeout(t);
    },
    /** Entries not yet recorded (queued or on the bus). */
    pending: () => unsettled,
  };
}
export type QueryHistory = ReturnType<typeof createQueryHistory>;
