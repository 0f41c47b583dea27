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
