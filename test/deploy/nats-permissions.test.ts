/**
 * Bus security: a real nats-server running the project's deploy/nats.conf refuses what a
 * service may not do, and allows what it must do.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import { Bus } from "@dsb/bus";
import { NatsTransport } from "@dsb/bus/nats";
import { Objm } from "@nats-io/obj";
import { jetstreamManager } from "@nats-io/jetstream";
import { createLogger } from "@dsb/runtime";
import { CACHE_BUCKET, HEALTH_BUCKET, UPLOAD_BUCKET, type NatsUser } from "../../deploy/gen-nats-conf.ts";
import { KvCacheStore } from "../../gateway/src/cache/kv-store.ts";
import { KvFlight } from "../../gateway/src/cache/kv-flight.ts";
import type { Claim } from "../../gateway/src/cache/store.ts";
import { kvLease } from "../../services/catalog/src/health/lease.ts";
import { startProjectNats, testPassword, type RunningNats } from "./nats-server.ts";

let nats: RunningNats;
const open: NatsTransport[] = [];

async function connectAs(user: NatsUser, pass = testPassword(user)): Promise<NatsTransport> {
  const t = await NatsTransport.connect({ servers: nats.url, name: `perm-test-${user}`, user, pass });
  open.push(t);
  return t;
}
const busOf = (t: NatsTransport) => new Bus(t, { defaultTimeoutMs: 3_000 });

/** Resolves with the error a subscription gets (permission violations arrive asynchronously). */
function subscriptionError(t: NatsTransport, subject: string): Promise<Error> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`subscription to ${subject} was not refused`)), 3_000);
    t.nc.subscribe(subject, {
      callback: (err) => {
        if (err) { clearTimeout(timer); resolve(err); }
      },
    });
    void t.nc.flush();
  });
}

const resolved = { id: "src1", db_type: "postgresql", config: { host: "db" }, version: "1" };

describe("deploy/nats.conf on a real nats-server", () => {
  beforeAll(async () => {
    nats = await startProjectNats();
    // The catalog serves the config subject as it does in production (a queue-group micro-service).
    const catalog = busOf(await connectAs("catalog"));
    await catalog.serve("catalog", { "catalog.config.resolve": async () => resolved }, { replicaId: "c1" });
  });
  afterAll(async () => {
    for (const t of open.reverse()) await t.close().catch(() => undefined);
    await nats?.stop();
  });

  it("refuses a wrong password", async () => {
    await expect(NatsTransport.connect({ servers: nats.url, name: "bad", user: "gateway", pass: "wrong" })).rejects.toThrow(/auth/i);
  });

  it("lets the connector ask the catalog for a decrypted config", async () => {
    const connector = busOf(await connectAs("connector"));
    await expect(connector.request("catalog.config.resolve", { tenant_id: "t1", id: "src1" })).resolves.toEqual(resolved);
  });

  it("refuses catalog.config.resolve from the gateway with a permission violation", async () => {
    const gateway = busOf(await connectAs("gateway"));
    const err = await gateway.request("catalog.config.resolve", { tenant_id: "t1", id: "src1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("FORBIDDEN");
    expect((err as AppError).message).toContain("catalog.config.resolve");
  });

  it("refuses catalog.config.resolve from ingestion too", async () => {
    const ingestion = busOf(await connectAs("ingestion"));
    const err = await ingestion.request("catalog.config.resolve", { tenant_id: "t1", id: "src1" }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("FORBIDDEN");
  });

  it("keeps the gateway from reading the connector's replies or impersonating the catalog", async () => {
    const gateway = await connectAs("gateway");
    expect((await subscriptionError(gateway, "_INBOX_connector.>")).message).toMatch(/permissions violation/i);
    expect((await subscriptionError(gateway, "catalog.config.resolve")).message).toMatch(/permissions violation/i);
    expect((await subscriptionError(gateway, "_INBOX.>")).message).toMatch(/permissions violation/i);
  });

  it("lets the gateway ping services for /readyz and call public subjects", async () => {
    const gatewayT = await connectAs("gateway");
    expect(await gatewayT.ping("catalog", 2_000)).toBe(true);
    // A public subject nobody serves here: allowed to publish, so the answer is "no responders", not "forbidden".
    const err = await gatewayT.request("connector.test", new Uint8Array(), { timeoutMs: 2_000, headers: {} }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("UNAVAILABLE");
    expect((err as AppError).message).toMatch(/no service answers/i);
  });

  it("lets a service ping itself (readiness probe) but not serve another service's subjects", async () => {
    const connector = await connectAs("connector");
    const catalogSelf = await connectAs("catalog");
    expect(await catalogSelf.ping("catalog", 2_000)).toBe(true);
    expect((await subscriptionError(connector, "catalog.source.get")).message).toMatch(/permissions violation/i);
  });

  it("delivers catalog.events.source.deleted from the catalog to its listeners; only the catalog may publish it", async () => {
    const catalog = busOf(await connectAs("catalog"));
    const heard: string[] = [];
    const got = Promise.all((["gateway", "connector", "ingestion"] as const).map(async (u) => {
      const b = busOf(await connectAs(u));
      return new Promise<void>((resolve) => b.subscribe("catalog.events.source.deleted", (e) => { heard.push(`${u}:${e.id}`); resolve(); }));
    }));
    for (const t of open) await t.nc.flush();
    catalog.publish("catalog.events.source.deleted", { id: "s9", tenant_id: "t1", type: "database", file_path: null });
    await got;
    expect(heard.sort()).toEqual(["connector:s9", "gateway:s9", "ingestion:s9"]);
  });

  it("lets one gateway replica ask the others to cancel a query (gateway.query.cancel) and tell the connector (gateway.events.query.cancelled)", async () => {
    const owner = busOf(await connectAs("gateway"));
    const asker = busOf(await connectAs("gateway"));
    const connector = busOf(await connectAs("connector"));
    const id = crypto.randomUUID();
    owner.listen("gateway.query.cancel", async (req) => (req.query_id === id ? { cancelled: true as const } : null));
    asker.listen("gateway.query.cancel", async () => null);
    const heard = new Promise<string>((resolve) => connector.subscribe("gateway.events.query.cancelled", (e) => resolve(e.query_id)));
    for (const t of open) await t.nc.flush();
    expect(await asker.requestFirst("gateway.query.cancel", { actor: { tenant_id: "t1", user_id: "u1" }, query_id: id }, { timeoutMs: 2_000 })).toEqual({ cancelled: true });
    expect(await asker.requestFirst("gateway.query.cancel", { actor: { tenant_id: "t1", user_id: "u1" }, query_id: "other" }, { timeoutMs: 300 })).toBeNull();
    owner.publish("gateway.events.query.cancelled", { query_id: id, tenant_id: "t1" });
    expect(await heard).toBe(id);
  });

  it("lets gateway replicas share the query cache bucket (open, put, get, purge a source) and nobody else use it", async () => {
    const [a, b] = await Promise.all([connectAs("gateway"), connectAs("gateway")]);
    const storeA = await KvCacheStore.open(a.nc, { bucket: CACHE_BUCKET, maxBytes: 1 << 20 });
    const storeB = await KvCacheStore.open(b.nc, { bucket: CACHE_BUCKET, maxBytes: 1 << 20 });
    await storeA.set("t_x.s_y.k1", new Uint8Array([7]), Date.now() + 60_000);
    expect([...(await storeB.get("t_x.s_y.k1"))!]).toEqual([7]);
    await storeB.dropPrefix("t_x.s_y");
    expect(await storeA.get("t_x.s_y.k1")).toBeNull();
    // Single flight across replicas: A claims a key, B waits (subscribed to the key's subjects) for A's value.
    const [flightA, flightB] = await Promise.all([KvFlight.open(a.nc, { valueBucket: CACHE_BUCKET }), KvFlight.open(b.nc, { valueBucket: CACHE_BUCKET })]);
    const claim = await flightA.acquire("t_x.s_y.k2");
    expect(claim).toMatchObject({ release: expect.any(Function) });
    const waiting = flightB.acquire("t_x.s_y.k2");
    await storeA.set("t_x.s_y.k2", new Uint8Array([8]), Date.now() + 60_000);
    (claim as Claim).release(true);
    expect(await waiting).toBe("stored");
    const connector = await connectAs("connector");
    await expect(KvCacheStore.open(connector.nc, { bucket: CACHE_BUCKET, maxBytes: 1 << 20 })).rejects.toThrow(/permission/i);
    await expect(KvFlight.open(connector.nc, { valueBucket: CACHE_BUCKET })).rejects.toThrow(/permission/i);
  });

  it("lets gateway and ingestion share the upload bucket, and nobody create other streams", async () => {
    const gateway = await connectAs("gateway");
    const ingestion = await connectAs("ingestion");
    const gwStore = await new Objm(gateway.nc).create(UPLOAD_BUCKET);
    await gwStore.putBlob({ name: "t1/upload-1.csv" }, new TextEncoder().encode("a,b\n1,2\n"));

    const inStore = await new Objm(ingestion.nc).open(UPLOAD_BUCKET);
    expect(new TextDecoder().decode((await inStore.getBlob("t1/upload-1.csv"))!)).toBe("a,b\n1,2\n");
    expect((await inStore.info("t1/upload-1.csv"))?.size).toBe(8);
    const names: string[] = [];
    for (const i of await inStore.list()) names.push(i.name);
    expect(names).toContain("t1/upload-1.csv");
    // Several chunks (128 KiB each): the ordered consumer pulls more than once.
    const big = new Uint8Array(300 * 1024).map((_, i) => i % 251);
    await gwStore.putBlob({ name: "t1/upload-2.bin" }, big);
    expect(await inStore.getBlob("t1/upload-2.bin")).toEqual(big);
    await inStore.delete("t1/upload-2.bin");
    await inStore.delete("t1/upload-1.csv");
    expect(await gwStore.getBlob("t1/upload-1.csv")).toBeNull();

    // A stream capturing another user's inbox would leak its replies: creating one is refused.
    const jsm = await jetstreamManager(gateway.nc);
    await expect(jsm.streams.add({ name: "SNOOP", subjects: ["_INBOX_connector.>"] })).rejects.toThrow(/permission/i);
    // The connector has no business in JetStream at all.
    await expect(jetstreamManager((await connectAs("connector")).nc)).rejects.toThrow(/permission/i);
  });

  it("lets catalog replicas hold the health scheduler lease (one at a time) and send checks to the connector; nobody else", async () => {
    const log = createLogger("perm-test", "silent");
    const [a, b] = [await connectAs("catalog"), await connectAs("catalog")];
    const first = await kvLease(a.nc, { bucket: HEALTH_BUCKET, replicaId: "cat-a", ttlMs: 3_000, log });
    const second = await kvLease(b.nc, { bucket: HEALTH_BUCKET, replicaId: "cat-b", ttlMs: 3_000, log });
    expect([first.held(), second.held()]).toEqual([true, false]);
    await first.stop();
    await second.stop();

    const connector = busOf(await connectAs("connector"));
    await connector.serve("connector", { "connector.health.check": async () => ({ ok: true, latency_ms: 1, server_version: null, error: null }) }, { replicaId: "k1" });
    const catalog = busOf(await connectAs("catalog"));
    expect((await catalog.request("connector.health.check", { tenant_id: "t1", id: "s1", timeout_ms: 1000 })).ok).toBe(true);
    const gateway = busOf(await connectAs("gateway"));
    await expect(gateway.request("connector.health.check", { tenant_id: "t1", id: "s1", timeout_ms: 1000 })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(jetstreamManager((await connectAs("gateway")).nc).then((m) => m.streams.info(`KV_${HEALTH_BUCKET}`))).rejects.toThrow(/permission/i);
  });
});
