import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, setSha256Backend, type ObjectStore } from "@nats-io/obj";
import { AppError } from "@dsb/contracts";
import { assertKey, limited, type BlobBody, type BlobInfo, type BlobStore } from "./blob-store.ts";

export const UPLOAD_BUCKET = "dsb-uploads";

/** Chunk size asked of the Object Store (capped by the library at the server's max_payload): each chunk waits for its ack. */
const CHUNK_BYTES = 1024 * 1024;

// The library's default digest is js-sha256 in pure JavaScript (~20 ms/MiB); node:crypto is ~1 ms/MiB.
setSha256Backend("native");

/**
 * Blobs in a JetStream Object Store bucket (distributed mode), so any ingestion
 * replica reads what the gateway wrote. A put that fails part-way is purged by
 * the client library (its chunks never become an object).
 */
export class ObjectStoreBlobStore implements BlobStore {
  private constructor(private readonly os: ObjectStore) {}

  static async open(nc: NatsConnection, bucket = UPLOAD_BUCKET): Promise<ObjectStoreBlobStore> {
    // @nats-io/obj may pin another nats-core version; the connection is the same at run time.
    const objm = new Objm(nc as unknown as ConstructorParameters<typeof Objm>[0]);
    return new ObjectStoreBlobStore(await objm.create(bucket));
  }

  async put(key: string, body: BlobBody, opts: { maxBytes: number }): Promise<{ size: number }> {
    assertKey(key);
    const counter = { size: 0 };
    const source = limited(body, opts.maxBytes, counter);
    const rs = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const r = await source.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (e) {
          controller.error(e);
        }
      },
      async cancel() { await source.return(undefined); },
    });
    try {
      const info = await this.os.put({ name: key, options: { max_chunk_size: CHUNK_BYTES } }, rs, { timeout: 30_000 });
      return { size: info.size };
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw new AppError("UNAVAILABLE", `Could not store the upload: ${e instanceof Error ? e.message : String(e)}`, { retryable: true });
    }
  }

  async *get(key: string): AsyncIterable<Uint8Array> {
    assertKey(key);
    const r = await this.os.get(key);
    if (!r) throw new AppError("NOT_FOUND", "Stored file not found");
    const reader = r.data.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value?.byteLength) yield value;
      }
    } finally {
      reader.releaseLock();
    }
    const err = await r.error;
    if (err) throw new AppError("UNAVAILABLE", `Reading the stored file failed: ${err.message}`, { retryable: true });
  }

  async toLocalFile(key: string): Promise<{ path: string; release(): Promise<void> }> {
    const dir = await mkdtemp(join(tmpdir(), "dsb-blob-"));
    const path = join(dir, key.split("/").pop() || "blob");
    const release = () => rm(dir, { recursive: true, force: true });
    try {
      await pipeline(Readable.from(this.get(key)), createWriteStream(path));
    } catch (e) {
      await release();
      throw e;
    }
    return { path, release };
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    if (!(await this.os.info(key))) return;
    await this.os.delete(key);
  }

  async exists(key: string): Promise<boolean> {
    assertKey(key);
    const info = await this.os.info(key);
    return !!info && !info.deleted;
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    for (const info of await this.os.list()) {
      if (info.deleted || !info.name.startsWith(prefix)) continue;
      yield { key: info.name, size: info.size, modified: new Date(info.mtime) };
    }
  }
}
