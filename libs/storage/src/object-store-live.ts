import { headers, type MsgHdrs } from "@nats-io/nats-core";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, type ObjectInfo } from "@nats-io/obj";
import { AppError } from "@dsb/contracts";
import type { LiveBlob } from "./blob-store.ts";
import type { Sha256 } from "./sha256.ts";

/**
 * A put given `live` ends its chunk subject with one message (LIVE_END_BODY) carrying this header,
 * published after the object's info: "stored", or "failed" (then the chunks are purged but it).
 * A follower reads the chunk subject up to it, so it needs no view of the info subject.
 */
export const LIVE_END_HEADER = "Dsb-Upload-End";

/** Not empty: the client takes an empty message with headers on a pull consumer for a status message. */
export const LIVE_END_BODY = new Uint8Array([10]);

export const liveEnd = (outcome: "stored" | "failed"): MsgHdrs => {
  const h = headers();
  h.set(LIVE_END_HEADER, outcome);
  return h;
};

/** A follower waits this long for the next chunk before it gives the upload up (a writer that died). */
const STALL_MS = 120_000;

const stalled = () => new AppError("UNAVAILABLE", "The upload stopped arriving before it was stored; upload it again", { retryable: true });
const failed = () => new AppError("UNAVAILABLE", "The upload was not stored; upload it again", { retryable: true });
const corrupted = () => new AppError("UNAVAILABLE", "Reading the stored file failed: it is incomplete or corrupted; upload it again", { retryable: true });

/** Rejects with `err()` when `p` has not settled after `ms`. */
async function within<T>(p: Promise<T>, ms: number, err: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(err()), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

export interface LiveDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  chunkSubject: string;
  sha: Sha256;
  /** The object's info once the end marker came (null when absent). */
  info(): Promise<ObjectInfo | null>;
  /** Takes back a fetched message's payload that nothing refers to any more (recyclePayload), if given. */
  recycle?(data: Uint8Array): void;
}

/**
 * Follows an object's chunk subject while its put runs: the chunks as they are acknowledged, up to the
 * end marker; then the same checks as a read of the stored object (chunk count, digest). Each chunk's
 * stream sequence is kept, so readAt fetches the few chunks it needs by sequence afterwards.
 */
export function followLive(d: LiveDeps, id: string): LiveBlob {
  const seqs: number[] = [];
  let info: ObjectInfo | null = null;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    const consumer = await d.js.consumers.get(d.stream, { filter_subjects: d.chunkSubject });
    const messages = await consumer.consume({ max_messages: 4 });
    const it = messages[Symbol.asyncIterator]();
    try {
      for (;;) {
        const r = await within(it.next(), STALL_MS, stalled);
        if (r.done) throw stalled();
        const m = r.value;
        const end = m.headers?.get(LIVE_END_HEADER);
        if (end) {
          if (end !== "stored") {
            await d.jsm.streams.purge(d.stream, { filter: d.chunkSubject }).catch(() => {});
            throw failed();
          }
          info = await d.info();
          const digest = `SHA-256=${Base64UrlPaddedCodec.encode(new Uint8Array(d.sha.digest()))}`;
          if (!info || info.deleted || info.nuid !== id || info.chunks !== seqs.length || (info.digest && info.digest !== digest)) throw corrupted();
          return;
        }
        d.sha.update(m.data);
        seqs.push(m.seq);
        if (m.data.byteLength) yield m.data;
      }
    } finally {
      // The iterator is ended first: close() waits for it (a for-await would have called return()).
      await it.return?.().catch(() => undefined);
      await messages.close().catch(() => undefined);
    }
  }
  // The sniff reads a few places, some twice (the middle, the end): the last chunks fetched are kept;
  // one that drops out goes back for the next inbound message (only readAt's copies leave here).
  const recent = new Map<number, Uint8Array>();
  const chunkAt = async (k: number): Promise<Uint8Array> => {
    const kept = recent.get(k);
    if (kept) return kept;
    // A direct get hands the raw bytes (a stream message get would send them as base64 in JSON).
    const m = await d.jsm.direct.getMessage(d.stream, { seq: seqs[k]! });
    if (!m) throw corrupted();
    if (recent.size >= 2) {
      const [oldest, bytes] = recent.entries().next().value!;
      recent.delete(oldest);
      d.recycle?.(bytes);
    }
    recent.set(k, m.data);
    return m.data;
  };
  const done = (): ObjectInfo => {
    if (!info) throw new Error("the object is still being read");
    return info;
  };
  return {
    chunks: chunks(),
    size: () => done().size,
    async readAt(position, length) {
      const { size, options } = done();
      const cs = options?.max_chunk_size ?? 0;
      const end = Math.min(size, position + length);
      if (end <= position || cs <= 0) return new Uint8Array(0);
      // Only the bytes asked for are copied out (a few KiB of the megabyte chunks they sit in).
      const out = new Uint8Array(end - position);
      for (let k = Math.floor(position / cs); k * cs < end; k++) {
        const chunk = await chunkAt(k);
        const from = Math.max(position, k * cs);
        const to = Math.min(end, k * cs + chunk.byteLength);
        if (to <= from) throw corrupted();
        out.set(chunk.subarray(from - k * cs, to - k * cs), from - position);
      }
      return out;
    },
  };
}
