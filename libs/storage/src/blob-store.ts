import { AppError } from "@dsb/contracts";

/** A body to store: a Node/async iterable of chunks or a Web stream (Request.body). */
export type BlobBody = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

export interface BlobInfo {
  key: string;
  size: number;
  modified: Date;
}

/**
 * Where uploads and their datasets live: a directory in embedded mode, a JetStream
 * Object Store bucket when NATS is used, so any ingestion replica can read them.
 * Keys are `/`-separated paths; each segment is checked by `assertKey`.
 */
export interface BlobStore {
  /**
   * Streams `body` under `key`; throws PAYLOAD_TOO_LARGE as soon as `maxBytes` is exceeded, leaving nothing behind.
   * Each chunk is consumed (copied or written) before the next is asked for, so a producer may reuse a
   * chunk's memory once it is asked for the next one.
   */
  put(key: string, body: BlobBody, opts: PutOptions): Promise<{ size: number }>;
  /** The object's size; NOT_FOUND when absent. */
  stat(key: string): Promise<{ size: number }>;
  /** The stored bytes; NOT_FOUND when absent. */
  get(key: string): AsyncIterable<Uint8Array>;
  /** A local file holding the object (the file itself for the fs store, a temp copy otherwise); call release when done. */
  toLocalFile(key: string): Promise<{ path: string; release(): Promise<void> }>;
  /** Removes the object; absent is not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Objects whose key starts with `prefix`. */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /**
   * Stores that let a reader follow an object while `put` is still writing it (the Object Store):
   * an id to give `put` (`opts.live`) and the reader (`follow`). Absent: read after the put.
   */
  liveId?(): string;
  follow?(key: string, id: string): LiveBlob;
}

/** An object followed while it is written (BlobStore.follow). */
export interface LiveBlob {
  /** The bytes as they are stored; ends once the put completed (checked like `get`), throws if the put failed. */
  chunks: AsyncIterable<Uint8Array>;
  /** Once `chunks` ended: the object's size. */
  size(): number;
  /** Once `chunks` ended: `length` bytes at `position` (fewer at the end). */
  readAt(position: number, length: number): Promise<Uint8Array>;
}

/** What a put with `live` set takes, next to the byte cap. */
export interface PutOptions {
  maxBytes: number;
  /** An id from liveId(): a reader may follow the object with it while it is written. */
  live?: string;
}

export const tooLarge = (maxBytes: number) =>
  new AppError("PAYLOAD_TOO_LARGE", `File is larger than the upload limit of ${maxBytes} bytes (MAX_UPLOAD_BYTES)`, { details: { max_bytes: maxBytes } });

/** Keys are relative paths of safe segments: no `..`, no empty or dot segments, no backslashes or NUL. */
export function assertKey(key: string): void {
  const bad = !key || key.length > 1024 || key.startsWith("/") || /[\\\0]/.test(key)
    || key.split("/").some((s) => s === "" || s === "." || s === "..");
  if (bad) throw new AppError("VALIDATION", `Invalid storage key "${key.slice(0, 100)}"`);
}

/** Chunks of either body kind, as an async iterable. */
export async function* chunksOf(body: BlobBody): AsyncGenerator<Uint8Array> {
  if (Symbol.asyncIterator in body) {
    yield* body as AsyncIterable<Uint8Array>;
    return;
  }
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value) yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Passes chunks through, counting bytes; throws PAYLOAD_TOO_LARGE the moment the count passes `maxBytes`. */
export async function* limited(body: BlobBody, maxBytes: number, counter: { size: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunksOf(body)) {
    counter.size += chunk.byteLength;
    if (counter.size > maxBytes) throw tooLarge(maxBytes);
    yield chunk;
  }
}
