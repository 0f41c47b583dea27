import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { uniqueId } from "@dsb/runtime/testing";
import { cacheKey, createQueryCache, TieredCacheStore, type QueryResultRows } from "./index.ts";
import { KvCacheStore } from "./kv-store.ts";
import { claimsBucket, KvFlight } from "./kv-flight.ts";

/**
 * Single flight across two gateway replicas on the real NATS: each replica is a query cache
 * over its own NATS connection, sharing the value and claims buckets. A query "runs" when
 * its run function is called; gates decide when it ends, so nothing here depends on timing
 * except the claim's life (CLAIM_MS, short here) where that is the point.
 */
const NATS = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const CLAIM_MS = 600;
const rows = (n: number): QueryResultRows => ({ columns: [{ name: "n", type: "int4" }], rows: [[n]], truncated: false, execution_time_ms: 1 });

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  return { open, opened };
}

describe("single flight across replicas (JetStream KV claims)", () => {
  const conns: NatsConnection[] = [];
  const bucket = uniqueId("flight");
  let replicas: ReturnType<typeof createQueryCache>[];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) conns.push(await connect({ servers: NATS }));
    replicas = await Promise.all(conns.map(async (nc) => createQueryCache({
      store: new TieredCacheStore(await KvCacheStore.open(nc, { bucket, maxBytes: 8 << 20 }), 1 << 20),
      maxEntryBytes: 1 << 20,
      flight: await KvFlight.open(nc, { valueBucket: bucket, claimMs: CLAIM_MS }),
    })));
  });
  afterAll(async () => {
    const jsm = await jetstreamManager(conns[0]!);
    for (const b of [bucket, claimsBucket(bucket)]) await jsm.streams.delete(`KV_${b}`).catch(() => undefined);
    for (const c of conns) await c.close();
  });
  const [a, b] = [() => replicas[0]!, () => replicas[1]!];

  it("one replica runs a key; the other waits through renewals past the claim's life and answers its entry", async () => {
    const key = await cacheKey({ tenant: "acme", sourceId: "s1", version: "v1", sql: uniqueId("select "), limit: 100, read_only: true });
    let runs = 0;
    const started = gate();
    const finish = gate();
    const first = a().run(key, "use", 60, async () => { runs++; started.open(); await finish.opened; return rows(1); });
    await started.opened;
    let answered = false;
    const second = b().run(key, "use", 60, async () => { runs++; return rows(2); }).then((o) => { answered = true; return o; });
    // Three claim lives: without renewals the waiting replica would have run the query by now.
    await new Promise((r) => setTimeout(r, 3 * CLAIM_MS));
    expect(answered).toBe(false);
    finish.open();
    const [x, y] = await Promise.all([first, second]);
    expect(runs).toBe(1);
    expect(x).toMatchObject({ fromOthers: false, cachedAt: null });
    expect(y.fromOthers).toBe(true);
    expect(y.result.rows).toEqual([[1]]);
    expect(Date.parse(y.cachedAt!)).not.toBeNaN();
  });

  it("a claim ends without a value (the query failed): the waiting replica runs it at once", async () => {
    const key = await cacheKey({ tenant: "acme", sourceId: "s1", version: "v1", sql: uniqueId("select "), limit: 100, read_only: true });
    const started = gate();
    const fail = gate();
    const first = a().run(key, "use", 60, async () => { started.open(); await fail.opened; throw new Error("boom"); });
    await started.opened;
    let ranOnB = false;
    const second = b().run(key, "use", 60, async () => { ranOnB = true; return rows(3); });
    fail.open();
    await expect(first).rejects.toThrow("boom");
    expect((await second).result.rows).toEqual([[3]]);
    expect(ranOnB).toBe(true);
  });

  it("a claim whose holder died ages out: the waiting replica runs the query, and the key's next miss claims it again", async () => {
    const key = await cacheKey({ tenant: "acme", sourceId: "s1", version: "v1", sql: uniqueId("select "), limit: 100, read_only: true });
    // What a replica that died mid-query leaves: a claim nobody renews or ends.
    const claims = await new Kvm(conns[0]! as unknown as ConstructorParameters<typeof Kvm>[0]).open(claimsBucket(bucket));
    const dead = await claims.create(key, new TextEncoder().encode("run"));
    let runs = 0;
    const outcome = await b().run(key, "use", 60, async () => {
      runs++;
      // By now the dead claim is gone (aged out) or this replica holds the key: no one else would run it.
      const c = await claims.get(key);
      expect(c === null || c.revision !== dead).toBe(true);
      return rows(4);
    });
    expect(runs).toBe(1);
    expect(outcome).toMatchObject({ fromOthers: false });
    expect((await a().run(key, "use", 60, async () => rows(5))).result.rows).toEqual([[4]]);
  });

  it("a miss on one replica leaves no claim behind: the next miss of the key is one create again", async () => {
    const key = await cacheKey({ tenant: "acme", sourceId: "s1", version: "v1", sql: uniqueId("select "), limit: 100, read_only: true });
    await a().run(key, "use", 60, async () => rows(6));
    const claims = await new Kvm(conns[1]! as unknown as ConstructorParameters<typeof Kvm>[0]).open(claimsBucket(bucket));
    // The release runs after the answer (off the response path): a bounded poll, not a timing assertion.
    for (let i = 0; i < 100 && (await claims.get(key)) !== null; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await claims.get(key)).toBeNull();
    // Nothing left, not even a delete marker: a plain create succeeds.
    await expect(claims.create(key, new TextEncoder().encode("run"))).resolves.toBeGreaterThan(0);
  });
});
