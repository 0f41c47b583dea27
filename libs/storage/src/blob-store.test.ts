import { mkdtemp, rm, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { exactPayloads, recyclePayload } from "../../runtime/src/nats-payloads.ts";
import { AppError } from "@dsb/contracts";
import { FsBlobStore } from "./fs.ts";
import { ObjectStoreBlobStore } from "./object-store.ts";
import { nodeObjectStorePlatform } from "./object-store-node.ts";
import { openBlobStore } from "./open.ts";
import type { BlobStore } from "./blob-store.ts";

const NATS = process.env.TEST_NATS_URL ?? "127.0.0.1:4222";

async function* chunks(n: number, size: number, byte = 97): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < n; i++) yield new Uint8Array(size).fill(byte);
}
const webStream = (parts: Uint8Array[]) => new ReadableStream<Uint8Array>({
  start(c) { for (const p of parts) c.enqueue(p); c.close(); },
});
async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}
async function keys(store: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const i of store.list(prefix)) out.push(i.key);
  return out.sort();
}

function suite(name: string, make: () => Promise<{ store: BlobStore; prefix: string }>) {
  describe(name, () => {
    let store: BlobStore;
    let p: string;
    beforeAll(async () => { ({ store, prefix: p } = await make()); });

    it("stores, reads, lists and deletes a streamed body", async () => {
      const r = await store.put(`${p}/a/one.csv`, chunks(10, 100_000), { maxBytes: 10_000_000 });
      expect(r.size).toBe(1_000_000);
      await store.put(`${p}/a/two.txt`, webStream([new TextEncoder().encode("hello")]), { maxBytes: 100 });
      expect(await store.exists(`${p}/a/one.csv`)).toBe(true);
      expect(await store.stat(`${p}/a/one.csv`)).toEqual({ size: 1_000_000 });
      expect((await collect(store.get(`${p}/a/two.txt`))).toString()).toBe("hello");
      expect(await keys(store, `${p}/a/`)).toEqual([`${p}/a/one.csv`, `${p}/a/two.txt`]);
      const local = await store.toLocalFile(`${p}/a/one.csv`);
      expect((await readFile(local.path)).length).toBe(1_000_000);
      await local.release();
      await store.delete(`${p}/a/one.csv`);
      await store.delete(`${p}/a/two.txt`);
      await store.delete(`${p}/a/never-existed`);
      expect(await store.exists(`${p}/a/one.csv`)).toBe(false);
      await expect(store.stat(`${p}/a/one.csv`)).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await keys(store, `${p}/`)).toEqual([]);
    });

    it("stores an empty body", async () => {
      expect((await store.put(`${p}/empty`, chunks(0, 1), { maxBytes: 10 })).size).toBe(0);
      expect((await collect(store.get(`${p}/empty`))).length).toBe(0);
      await store.delete(`${p}/empty`);
    });

    it("refuses a body over maxBytes with 413 and leaves nothing behind", async () => {
      let pulled = 0;
      async function* endless() { for (;;) { pulled++; yield new Uint8Array(64 * 1024); } }
      const err = await store.put(`${p}/big/file.bin`, endless(), { maxBytes: 1_000_000 }).catch((e) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err.code).toBe("PAYLOAD_TOO_LARGE");
      expect(err.message).toBe("File is larger than the upload limit of 1000000 bytes (MAX_UPLOAD_BYTES)");
      expect(pulled).toBeLessThan(20); // stopped as soon as the limit passed
      expect(await store.exists(`${p}/big/file.bin`)).toBe(false);
      expect(await keys(store, `${p}/`)).toEqual([]);
    });

    it("keeps keys in any script, with emoji, spaces, quotes and percent signs, listed back as they were", async () => {
      const names = ["файл.csv", "数据.csv", "📊 report 😀.csv", "it's \"q\" 100%.csv", "%41 literal.csv", "café.csv", `${"ж".repeat(120)}.csv`];
      for (const n of names) await store.put(`${p}/u/${n}`, webStream([new TextEncoder().encode(n)]), { maxBytes: 10_000 });
      expect(await keys(store, `${p}/u/`)).toEqual(names.map((n) => `${p}/u/${n}`).sort());
      expect(await keys(store, `${p}/u/数`)).toEqual([`${p}/u/数据.csv`]);
      for (const n of names) {
        expect((await collect(store.get(`${p}/u/${n}`))).toString()).toBe(n);
        expect(await store.stat(`${p}/u/${n}`)).toEqual({ size: Buffer.byteLength(n) });
        const local = await store.toLocalFile(`${p}/u/${n}`);
        expect((await readFile(local.path)).toString()).toBe(n);
        await local.release();
        await store.delete(`${p}/u/${n}`);
        expect(await store.exists(`${p}/u/${n}`)).toBe(false);
      }
      expect(await keys(store, `${p}/`)).toEqual([]);
    });

    it("answers NOT_FOUND for a missing key and refuses unsafe keys", async () => {
      await expect(collect(store.get(`${p}/missing`))).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(store.put("../escape", chunks(1, 1), { maxBytes: 10 })).rejects.toMatchObject({ code: "VALIDATION" });
      await expect(store.put(`${p}/a/../../x`, chunks(1, 1), { maxBytes: 10 })).rejects.toMatchObject({ code: "VALIDATION" });
    });
  });
}

let dir: string;
let nc: NatsConnection | undefined;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "dsb-store-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); await nc?.drain(); });

suite("FsBlobStore", async () => ({ store: new FsBlobStore(join(dir, "uploads")), prefix: "t1" }));
suite("ObjectStoreBlobStore (real NATS JetStream)", async () => {
  nc = await connect({ servers: NATS });
  return { store: await ObjectStoreBlobStore.open(nc, undefined, nodeObjectStorePlatform), prefix: `test-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}` };
});

describe("openBlobStore", () => {
  it("uses DATA_DIR/uploads without NATS and leaves no temp files after a refused put", async () => {
    const store = await openBlobStore({ DATA_DIR: dir });
    expect(store).toBeInstanceOf(FsBlobStore);
    expect((store as FsBlobStore).dir).toBe(join(dir, "uploads"));
    await store.put("x/y", chunks(3, 10), { maxBytes: 5 }).catch(() => {});
    expect(await readdir(join(dir, "uploads", ".tmp"))).toEqual([]);
  });
});

describe("ObjectStoreBlobStore: following an object while it is written (real NATS JetStream)", () => {
  let store: ObjectStoreBlobStore;
  let conn: NatsConnection;
  const p = `live-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  beforeAll(async () => {
    conn = await connect({ servers: NATS });
    store = await ObjectStoreBlobStore.open(conn, undefined, nodeObjectStorePlatform);
  });
  afterAll(async () => { await conn.drain(); });

  /** 2.5 MiB in 100 KiB pieces, each byte its offset mod 251, handed out only when `gate` says so. */
  async function* slowBody(gate: () => Promise<void>, failAt = Infinity): AsyncGenerator<Uint8Array> {
    const total = 2.5 * 1024 * 1024;
    for (let at = 0; at < total; at += 100 * 1024) {
      if (at >= failAt) throw new Error("client went away");
      await gate();
      yield Uint8Array.from({ length: Math.min(100 * 1024, total - at) }, (_, i) => (at + i) % 251);
    }
  }

  it("hands the reader each chunk before the put ends, then the size and any range", async () => {
    const key = `${p}/a/f.csv`;
    const id = store.liveId();
    const live = store.follow(key, id);
    // Past the first 1 MiB chunk the body waits until the reader has that chunk: the put cannot end before.
    let gotFirst!: () => void;
    const firstRead = new Promise<void>((r) => { gotFirst = r; });
    let produced = 0;
    const putting = store.put(key, slowBody(async () => { if (++produced > 15) await firstRead; }), { maxBytes: 10_000_000, live: id });
    const it = live.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    gotFirst();
    expect(first.done).toBe(false);
    const parts = [first.value as Uint8Array];
    for (let r = await it.next(); !r.done; r = await it.next()) parts.push(r.value);
    expect((await putting).size).toBe(2.5 * 1024 * 1024);
    const all = Buffer.concat(parts);
    expect(all.length).toBe(2.5 * 1024 * 1024);
    expect(all.every((b, i) => b === i % 251)).toBe(true);
    expect(live.size()).toBe(all.length);
    for (const [pos, len] of [[0, 10], [1024 * 1024 - 5, 10], [2.5 * 1024 * 1024 - 3, 64]] as const) {
      expect(Buffer.from(await live.readAt(pos, len))).toEqual(all.subarray(pos, pos + len));
    }
    // Stored like any other object: read back whole.
    expect((await collect(store.get(key))).equals(all)).toBe(true);
    await store.delete(key);
  });

  it("reads ranges over several chunks intact while it hands fetched chunks back for reuse", async () => {
    // As ingestion runs: payloads gathered in pooled buffers, and the store handing back the chunks it fetched.
    exactPayloads();
    const rconn = await connect({ servers: NATS });
    try {
      const rstore = await ObjectStoreBlobStore.open(rconn, undefined, { ...nodeObjectStorePlatform, recycle: recyclePayload });
      const key = `${p}/c/f.csv`;
      const id = rstore.liveId();
      const live = rstore.follow(key, id);
      const cs = 1024 * 1024;
      const total = 5.5 * cs;
      const body = Buffer.from(Uint8Array.from({ length: total }, (_, i) => (i * 7 + (i >> 20)) % 253));
      const putting = rstore.put(key, (async function* () { for (let at = 0; at < total; at += 256 * 1024) yield body.subarray(at, at + 256 * 1024); })(), { maxBytes: 1e9, live: id });
      expect((await collect(live.chunks)).equals(body)).toBe(true);
      await putting;
      // Ranges over two and three chunks whose first one is the oldest kept: it is handed back while the range
      // is still being read, and the next fetch lands in its memory.
      const ranges: [number, number][] = [[0, 10], [5 * cs, 10], [cs - 5, cs + 10], [3 * cs, 10], [4 * cs + 3, 64],
        [3 * cs - 7, 2 * cs + 20], [0, 256 * 1024], [2.5 * cs, 64 * 1024], [5 * cs - 100, cs], [cs / 2, 3 * cs]];
      for (const [pos, len] of ranges) expect(Buffer.from(await live.readAt(pos, len)).equals(body.subarray(pos, pos + len)), `${pos}+${len}`).toBe(true);
      await rstore.delete(key);
    } finally {
      await rconn.drain();
    }
  });

  it("fails the reader when the put fails, and leaves nothing behind", async () => {
    const key = `${p}/b/f.csv`;
    const id = store.liveId();
    const live = store.follow(key, id);
    const reading = collect(live.chunks).then(() => null, (e: unknown) => e);
    const err = await store.put(key, slowBody(async () => {}, 1.5 * 1024 * 1024), { maxBytes: 10_000_000, live: id }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/client went away/);
    expect(await reading).toMatchObject({ code: "UNAVAILABLE" });
    expect(await store.exists(key)).toBe(false);
  });
});
