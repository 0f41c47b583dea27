import { gunzipSync, gzipSync } from "node:zlib";
import type { NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { CacheStore } from "./store.ts";

export const CACHE_BUCKET = "dsb-query-cache";
/** The cache bucket of a deployment (BUS_NAMESPACE keeps deployments on one NATS apart). */
export const cacheBucket = (namespace?: string) => (namespace ? `${namespace}-${CACHE_BUCKET}` : CACHE_BUCKET);

/** Longest TTL a source may set (SourcePatchSchema's cache_ttl_seconds cap): the bucket's max_age. */
const MAX_TTL_MS = 7 * 86_400_000;
/** Room left under max_payload for the KV message's headers and subject. */
const HEADROOM = 4096;
const PLAIN = 0;
const GZIP = 1;

/**
 * Distributed mode's cache, shared by every gateway replica: a JetStream KV bucket
 * (history 1, discard old once `maxBytes` is reached, max_age the longest TTL).
 * nats-server 2.9 has no per-message TTL, so each value starts with its expiry
 * (float64 epoch ms) and a flag byte; a reader treats an expired value as absent.
 * A value over max_payload is gzipped; one that does not fit even then is not stored.
 * A source's entries are dropped with one stream purge filtered by its key prefix.
 */
export class KvCacheStore implements CacheStore {
  private constructor(private readonly kv: KV, private readonly jsm: JetStreamManager, private readonly bucket: string, private readonly maxValue: number) {}

  static async open(nc: NatsConnection, opts: { bucket: string; maxBytes: number }): Promise<KvCacheStore> {
    // @nats-io/kv may pin another nats-core version; the connection is the same at run time.
    const kv = await new Kvm(nc as unknown as ConstructorParameters<typeof Kvm>[0]).create(opts.bucket, { history: 1, ttl: MAX_TTL_MS, max_bytes: opts.maxBytes });
    const jsm = await jetstreamManager(nc);
    const stream = `KV_${opts.bucket}`;
    // KV buckets are created with discard "new" (a full bucket refuses puts); a cache should forget its oldest instead.
    const info = await jsm.streams.info(stream);
    if (info.config.discard !== DiscardPolicy.Old) await jsm.streams.update(stream, { discard: DiscardPolicy.Old });
    return new KvCacheStore(kv, jsm, opts.bucket, (nc.info?.max_payload ?? 1024 * 1024) - HEADROOM);
  }

  async get(key: string): Promise<Uint8Array | null> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== "PUT" || e.value.byteLength < 9) return null;
    const v = e.value;
    const expiresAt = new DataView(v.buffer, v.byteOffset, 8).getFloat64(0);
    if (expiresAt <= Date.now()) return null;
    const body = v.subarray(9);
    return v[8] === GZIP ? new Uint8Array(gunzipSync(body)) : body;
  }

  async set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    let flag = PLAIN;
    let body = value;
    if (body.byteLength + 9 > this.maxValue) {
      body = new Uint8Array(gzipSync(value, { level: 1 }));
      flag = GZIP;
      if (body.byteLength + 9 > this.maxValue) return;
    }
    const out = new Uint8Array(body.byteLength + 9);
    new DataView(out.buffer).setFloat64(0, expiresAt);
    out[8] = flag;
    out.set(body, 9);
    await this.kv.put(key, out);
  }

  async dropPrefix(prefix: string): Promise<void> {
    await this.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${prefix}.>` });
  }

  async size(): Promise<{ entries: number; bytes: number }> {
    const s = await this.kv.status();
    return { entries: s.values, bytes: s.size };
  }
}
