/** Something that logs progress (pino-compatible subset). */
export interface ProgressLog {
  info(o: object, m: string): void;
}

/** How often a long upload, parse or export says how far it got. */
export const PROGRESS_EVERY_MS = 5_000;

/**
 * Progress lines for long work: `add()` per chunk or page, and at most one line every
 * `everyMs` with the bytes and rows so far and their rates. Work that ends sooner logs nothing.
 */
export function progress(log: ProgressLog | undefined, what: string, fields: object, everyMs = PROGRESS_EVERY_MS) {
  const started = Date.now();
  let last = started;
  let bytes = 0;
  let rows = 0;
  const line = () => {
    const seconds = (Date.now() - started) / 1000;
    log?.info({ ...fields, bytes, rows, seconds: Math.round(seconds), bytes_per_s: Math.round(bytes / seconds), rows_per_s: Math.round(rows / seconds) }, `⏳ ${what} in progress`);
  };
  return {
    add(n: { bytes?: number; rows?: number }): void {
      bytes += n.bytes ?? 0;
      rows += n.rows ?? 0;
      const now = Date.now();
      if (now - last >= everyMs) {
        last = now;
        line();
      }
    },
    /** For work that reports nothing while it runs (a parse): a line with the time so far every `everyMs` until stopped. */
    tick(): { stop(): void } {
      const timer = setInterval(() => log?.info({ ...fields, seconds: Math.round((Date.now() - started) / 1000) }, `⏳ ${what} in progress`), everyMs);
      timer.unref?.();
      return { stop: () => clearInterval(timer) };
    },
  };
}

/** Passes `body` through, counting its bytes into `p`. */
export async function* counted(body: AsyncIterable<Uint8Array>, p: { add(n: { bytes: number }): void }): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    p.add({ bytes: chunk.byteLength });
    yield chunk;
  }
}
