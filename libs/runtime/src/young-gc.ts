import v8 from "node:v8";
import { engineGc } from "./idle-gc.ts";

/** Bytes streamed between two young-generation collections. */
export const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;

let minorGc: (() => void) | null = null;

/**
 * Passes a byte stream through, collecting V8's young generation after every `everyBytes`.
 * Why: streaming 100 MB through a process (socket reads, NATS messages copied and packed, LZ4
 * frames) leaves ~2-3× that in dead buffers outside the JS heap. Their JS handles are small, so the
 * young generation fills rarely, and V8 frees the buffers only when external memory has grown by
 * ~64 MiB, then with full mark-compacts (ingestion ran ~15 per 100 MB upload): peak RSS held
 * 35-70 MiB of garbage. A young collection while most of it is dead takes about a millisecond.
 */
export async function* reclaiming<T extends Uint8Array>(chunks: AsyncIterable<T>, everyBytes = RECLAIM_EVERY_BYTES): AsyncGenerator<T> {
  const passed = reclaimer(everyBytes);
  for await (const chunk of chunks) {
    passed(chunk.byteLength);
    yield chunk;
  }
}

/** The same for a stream that is not an iterable (a CSV export's pages): call it with the bytes of each piece passed on. */
export function reclaimer(everyBytes = RECLAIM_EVERY_BYTES): (bytes: number) => void {
  const collect = (minorGc ??= ((gc) => () => gc({ type: "minor" }))(engineGc()));
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    collect();
  };
}

/** How far V8 lets the old generation grow past what survived a full collection while a stream holds `relaxHeapGrowth`: to twice that. */
export const STREAMING_HEAP_GROWTH_PERCENT = 100;
/** The growth factor the process was started with (`--heap-growing-percent`), 0 for V8's own choice. */
const startedWith = Number(/^--heap[-_]growing[-_]percent=(\d+)$/.exec(process.execArgv.find((a) => /^--heap[-_]growing[-_]percent=/.test(a)) ?? "")?.[1] ?? 0);
let holders = 0;

/**
 * While a streamed export is written: V8's old-generation growth fixed at 2× what survived the last
 * full collection (`--heap-growing-percent`); the returned release (idempotent) gives V8 back its
 * own choice when no stream holds it any more. Why: V8 counts the buffers allocated outside its
 * heap since its last full collection (an export's ~1 MiB pages, arriving in NATS messages) as if
 * they were old-generation bytes, and starts marking the whole heap once they come within a young
 * generation of the limit it set. For the gateway (~17 MiB live) that limit left a few MiB of room:
 * a 1M-row CSV export ran 6-11 full collections back to back, ~40% of the gateway's CPU. At 2× it
 * ran ~3: 110-280 ms less gateway CPU per million rows, no higher peak RSS (A/B in
 * test/bench/lib/probe-export-ab.ts). Only while streaming, so other work keeps V8's factor
 * (1.1-4×, from its GC speed) and its memory after a load.
 */
export function relaxHeapGrowth(): () => void {
  if (holders++ === 0) v8.setFlagsFromString(`--heap-growing-percent=${STREAMING_HEAP_GROWTH_PERCENT}`);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0) v8.setFlagsFromString(`--heap-growing-percent=${startedWith}`);
  };
}

/** How many streams hold `relaxHeapGrowth` now. */
export const heapGrowthHolders = (): number => holders;

let pendingCollection: ReturnType<typeof setTimeout> | undefined;

/**
 * One full collection `delayMs` after a large streamed job ended (an upload stored or parsed), once
 * its reply is normally out. The job's buffers that outlived two young collections (the store's
 * chunk buffers, record batches, the parser's) wait dead in the old generation until V8's next full
 * collection, which an idle process does not run: ingestion kept 30–55 MiB of them after each
 * 100 MB CSV (jemalloc's allocated bytes 44 → 6 MiB after one collection), and the next upload's
 * peak stacked on them. Freed, the allocator reuses their pages. Jobs ending together share one.
 * The price, measured: the next upload costs each process ~15–20 % more CPU (V8 seems to collect
 * more often in it, its external memory now counted from a lower mark), about what the payload pool saved.
 */
export function collectAfterJob(delayMs = 100): void {
  if (pendingCollection) return;
  pendingCollection = setTimeout(() => {
    pendingCollection = undefined;
    // No argument: a full collection (on Node 20, { type: "major" } runs a young one).
    engineGc()();
  }, delayMs);
  (pendingCollection as { unref?: () => void }).unref?.();
}
