import { headers, type NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type PubAck } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, Objm, type ObjectStore } from "@nats-io/obj";
import { AppError } from "@dsb/contracts";
import { assertKey, limited, type BlobBody, type BlobInfo, type BlobStore, type LiveBlob, type PutOptions } from "./blob-store.ts";
import { LIVE_END_BODY, followLive, liveEnd } from "./object-store-live.ts";
import { sha256js, type Sha256 } from "./sha256.ts";

/**
 * What the Object Store needs from its runtime. Web-standard by default (edge runtimes:
 * the gateway only puts); Node passes node:crypto's digest and a temp-file copy (object-store-node.ts).
 */
export interface ObjectStorePlatform {
  sha256(): Sha256;
  /** Writes the chunks to a local temp file (ingestion's parsers read files). */
  spill?(name: string, chunks: AsyncIterable<Uint8Array>): Promise<{ path: string; release(): Promise<void> }>;
  /** Takes back the payload of a fetched message once nothing refers to it (the runtime's recyclePayload). */
  recycle?(data: Uint8Array): void;
}

export const webObjectStorePlatform: ObjectStorePlatform = { sha256: sha256js };

const randomHex = (bytes: number): string => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");

export const UPLOAD_BUCKET = "dsb-uploads";

/**
 * The upload bucket of a deployment: BUS_NAMESPACE keeps deployments (and parallel
 * test files) on one NATS apart, and their buckets too — otherwise one deployment's
 * stale-upload sweep would delete the other's files, which its catalog does not know.
 */
export const uploadBucket = (namespace?: string): string => (namespace ? `${namespace}-${UPLOAD_BUCKET}` : UPLOAD_BUCKET);

/** Chunk size of stored objects (capped at the server's max_payload). */
const CHUNK_BYTES = 1024 * 1024;
/**
 * Chunk publishes awaiting their ack at once: the library's put waits for each ack before the next
 * chunk. 4 stores as fast as 8 here and keeps ~10 MiB less in flight in the NATS client.
 */
const IN_FLIGHT = 4;

/**
 * The object name of a key. The library puts a name in a subject with btoa, which
 * throws "Invalid character" past U+00FF (`файл.csv`, `数据.csv`): those characters,
 * and `%` so the mapping reverses, are percent-encoded as UTF-8. Everything else —
 * every name stored before — stays as it is, and a key's prefix maps to the
 * prefix of its name, so listing by prefix still works.
 */
export const objectName = (key: string): string => key.replace(/[%\u0100-\u{10FFFF}]/gu, (c) => encodeURIComponent(c));
/** The key an object name stands for (the inverse of objectName). */
export const keyOfObject = (name: string): string => name.replace(/(?:%[0-9A-F]{2})+/g, (s) => decodeURIComponent(s));

/** An error of the body being stored (a parser writing a dataset), not of the store. */
class ProducerError {
  constructor(readonly cause: unknown) {}
}

/** The body's chunks; what its producer throws comes out as a ProducerError, so put rethrows it as it was. */
async function* producerErrorsMarked(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } catch (e) {
    throw new ProducerError(e);
  }
}

/**
 * Blobs in a JetStream Object Store bucket (distributed mode), so any ingestion
 * replica reads what the gateway wrote. A put that fails part-way is purged by
 * the client library (its chunks never become an object).
 */
export class ObjectStoreBlobStore implements BlobStore {
  private constructor(
    private readonly os: ObjectStore,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
    private readonly maxPayload: number,
    private readonly platform: ObjectStorePlatform,
  ) {}

  static async open(nc: NatsConnection, bucket = UPLOAD_BUCKET, platform: ObjectStorePlatform = webObjectStorePlatform): Promise<ObjectStoreBlobStore> {
    // @nats-io/obj may pin another nats-core version; the connection is the same at run time.
    const objm = new Objm(nc as unknown as ConstructorParameters<typeof Objm>[0]);
    const os = await objm.create(bucket);
    return new ObjectStoreBlobStore(os, jetstream(nc), await jetstreamManager(nc), bucket, nc.info?.max_payload ?? 1024 * 1024, platform);
  }

  /**
   * Writes the object in the Object Store's own layout (chunks on `$O.<bucket>.C.<nuid>`,
   * then the info on `$O.<bucket>.M.<name>` with a subject rollup), so the library's
   * get/info/list/delete read it, but with several chunk publishes in flight and a
   * node:crypto digest. A failure purges the chunks written so far.
   */
  async put(key: string, body: BlobBody, opts: PutOptions): Promise<{ size: number }> {
    assertKey(key);
    const counter = { size: 0 };
    const name = objectName(key);
    const old = await this.os.info(name).catch(() => null);
    const nuid = opts.live ?? randomHex(16);
    const chunkSubj = `$O.${this.bucket}.C.${nuid}`;
    const chunkMax = Math.min(CHUNK_BYTES, this.maxPayload);
    const sha = this.platform.sha256();
    const pending: { ack: Promise<PubAck>; buf: Uint8Array }[] = [];
    // IN_FLIGHT + 1 chunk buffers, reused once their publish is acked (the server has the bytes then):
    // a fresh buffer per chunk would leave ~64 MB of dead buffers between collections.
    const free: Uint8Array[] = [];
    const take = () => free.pop() ?? new Uint8Array(chunkMax);
    let chunks = 0;
    let buf = take();
    let fill = 0;
    const publish = async (payload: Uint8Array) => {
      sha.update(payload);
      chunks++;
      pending.push({ ack: this.js.publish(chunkSubj, payload, { timeout: 30_000 }), buf: payload });
      if (pending.length >= IN_FLIGHT) {
        const done = pending.shift()!;
        await done.ack;
        free.push(new Uint8Array(done.buf.buffer, done.buf.byteOffset, chunkMax));
      }
    };
    try {
      for await (const chunk of producerErrorsMarked(limited(body, opts.maxBytes, counter))) {
        let off = 0;
        while (off < chunk.byteLength) {
          const n = Math.min(chunkMax - fill, chunk.byteLength - off);
          buf.set(chunk.subarray(off, off + n), fill);
          fill += n;
          off += n;
          if (fill === chunkMax) {
            // The payload is handed to the socket asynchronously: the next chunk goes into another buffer.
            await publish(buf);
            buf = take();
            fill = 0;
          }
        }
      }
      if (fill > 0) await publish(buf.subarray(0, fill));
      await Promise.all(pending.splice(0).map((p) => p.ack));
      const info = {
        name, description: "", options: { max_chunk_size: chunkMax }, bucket: this.bucket, nuid,
        size: counter.size, chunks, mtime: new Date().toISOString(),
        digest: `SHA-256=${Base64UrlPaddedCodec.encode(new Uint8Array(sha.digest()))}`, deleted: false,
      };
      const h = headers();
      h.set("Nats-Rollup", "sub");
      await this.js.publish(`$O.${this.bucket}.M.${Base64UrlPaddedCodec.encode(name)}`, JSON.stringify(info), { headers: h, timeout: 30_000 });
      if (opts.live) await this.js.publish(chunkSubj, LIVE_END_BODY, { headers: liveEnd("stored"), timeout: 30_000 });
    } catch (e) {
      await Promise.allSettled(pending.map((p) => p.ack));
      // A follower learns of the failure from the last message, which the purge keeps (the follower purges it).
      const told = opts.live ? await this.js.publish(chunkSubj, LIVE_END_BODY, { headers: liveEnd("failed"), timeout: 5_000 }).then(() => true, () => false) : false;
      await this.jsm.streams.purge(`OBJ_${this.bucket}`, { filter: chunkSubj, ...(told ? { keep: 1 } : {}) }).catch(() => {});
      if (e instanceof ProducerError) throw e.cause;
      if (e instanceof AppError) throw e;
      throw new AppError("UNAVAILABLE", `Could not store the upload: ${e instanceof Error ? e.message : String(e)}`, { retryable: true });
    }
    if (old && !old.deleted && old.nuid !== nuid) {
      await this.jsm.streams.purge(`OBJ_${this.bucket}`, { filter: `$O.${this.bucket}.C.${old.nuid}` }).catch(() => {});
    }
    return { size: counter.size };
  }

  /**
   * Streams the chunks with a pull consumer that asks for a few at a time, so a
   * slow reader (a disk, a parser) holds back the server instead of letting the
   * whole object pile up in memory (the library's get pushes without waiting).
   */
  async *get(key: string): AsyncIterable<Uint8Array> {
    assertKey(key);
    const info = await this.os.info(objectName(key)).catch(() => null);
    if (!info || info.deleted) throw new AppError("NOT_FOUND", "Stored file not found");
    if (info.chunks === 0) return;
    const consumer = await this.js.consumers.get(`OBJ_${this.bucket}`, { filter_subjects: `$O.${this.bucket}.C.${info.nuid}` });
    const messages = await consumer.consume({ max_messages: 4 });
    const sha = this.platform.sha256();
    let seen = 0;
    try {
      for await (const m of messages) {
        sha.update(m.data);
        seen++;
        if (m.data.byteLength) yield m.data;
        if (seen >= info.chunks) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
    const digest = `SHA-256=${Base64UrlPaddedCodec.encode(new Uint8Array(sha.digest()))}`;
    if (seen < info.chunks || (info.digest && digest !== info.digest))
      throw new AppError("UNAVAILABLE", "Reading the stored file failed: it is incomplete or corrupted; upload it again", { retryable: true });
  }

  liveId(): string {
    return randomHex(16);
  }

  follow(key: string, id: string): LiveBlob {
    assertKey(key);
    const stream = `OBJ_${this.bucket}`;
    return followLive({
      js: this.js, jsm: this.jsm, stream, chunkSubject: `$O.${this.bucket}.C.${id}`, sha: this.platform.sha256(),
      info: () => this.os.info(objectName(key)).catch(() => null), recycle: this.platform.recycle,
    }, id);
  }

  async stat(key: string): Promise<{ size: number }> {
    assertKey(key);
    const info = await this.os.info(objectName(key)).catch(() => null);
    if (!info || info.deleted) throw new AppError("NOT_FOUND", "Stored file not found");
    return { size: info.size };
  }

  async toLocalFile(key: string): Promise<{ path: string; release(): Promise<void> }> {
    if (!this.platform.spill) throw new AppError("INTERNAL", "This runtime has no local files; open the store with the Node platform (object-store-node.ts)");
    return this.platform.spill(key.split("/").pop() || "blob", this.get(key));
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    const name = objectName(key);
    if (!(await this.os.info(name))) return;
    await this.os.delete(name);
  }

  async exists(key: string): Promise<boolean> {
    assertKey(key);
    const info = await this.os.info(objectName(key));
    return !!info && !info.deleted;
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const namePrefix = objectName(prefix);
    for (const info of await this.os.list()) {
      if (info.deleted || !info.name.startsWith(namePrefix)) continue;
      yield { key: keyOfObject(info.name), size: info.size, modified: new Date(info.mtime) };
    }
  }
}
