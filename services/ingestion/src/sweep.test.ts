import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "@dsb/bus";
import type { Actor } from "@dsb/contracts";
import { startCatalog } from "@dsb/catalog";
import { createLogger, parseEnv } from "@dsb/runtime";
import { isolatedBus, uniqueId } from "@dsb/runtime/testing";
import { FsBlobStore, type BlobStore } from "@dsb/storage";
import { startSweeper, sweepStaleUploads, uploadKeyOf } from "./sweep.ts";

/** The stale-upload sweep against the real catalog (PGlite) and a real directory store. */
describe("stale-upload sweep", () => {
  const log = createLogger("sweep-test", "silent");
  const tenant = uniqueId("tenant");
  const actor: Actor = { tenant_id: tenant, user_id: "u1" };
  const HOUR = 60 * 60_000;
  let dir: string;
  let bus: Bus;
  let store: BlobStore;
  let catalog: { stop(): Promise<void> };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dsb-sweep-"));
    store = new FsBlobStore(join(dir, "uploads"));
    bus = isolatedBus();
    catalog = await startCatalog({ env: parseEnv({ DATA_DIR: dir }), bus, log, replicaId: "c1" });
  });
  afterAll(async () => {
    await catalog?.stop();
    await bus?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const put = async (key: string) => { await store.put(key, (async function* () { yield new TextEncoder().encode("a,b\n1,2\n"); })(), { maxBytes: 100 }); };
  /** An upload with a dataset beside it, as a finished parse leaves it. */
  const upload = async (name: string) => {
    const key = `${tenant}/${crypto.randomUUID()}/${name}`;
    await put(key);
    await put(`${key}.dataset/t0.arrow`);
    await put(`${key}.dataset/manifest.json`);
    return key;
  };
  const keys = async () => { const out: string[] = []; for await (const o of store.list("")) out.push(o.key); return out.sort(); };
  const source = async (key: string) =>
    (await bus.request("catalog.source.create", { actor, source: { name: "f", type: "file", format: "csv", file_path: key } })).source;

  it("maps dataset objects to their upload", () => {
    expect(uploadKeyOf("t/u/a.csv.dataset/t0.arrow")).toBe("t/u/a.csv");
    expect(uploadKeyOf("t/u/a.csv")).toBe("t/u/a.csv");
  });

  it("removes old uploads no active source references, with their datasets, and keeps the rest", async () => {
    const kept = await upload("kept.csv");
    await source(kept);
    const orphan = await upload("orphan.csv"); // e.g. an ingestion replica killed before the source was stored
    const deleted = await upload("deleted.csv");
    const gone = await source(deleted);
    await bus.request("catalog.source.delete", { actor, id: gone.id });
    const parsing = await upload("parsing.csv");
    const datasetOnly = `${tenant}/${crypto.randomUUID()}/half.csv`;
    await put(`${datasetOnly}.dataset/t0.arrow`); // a parse cut short, its upload already gone

    const later = Date.now() + 2 * HOUR;
    // Inside the grace period nothing goes: a parse may still be running, or the catalog row be on its way.
    const early = await sweepStaleUploads({ store, bus, log, graceMs: HOUR, now: () => Date.now() + HOUR / 2 });
    expect(early).toEqual({ checked: 0, removed: [] });
    const second = await sweepStaleUploads({ store, bus, log, graceMs: HOUR, now: () => later, busy: new Set([parsing]) });
    expect(second.removed.sort()).toEqual([orphan, deleted, datasetOnly].sort());
    expect(await keys()).toEqual([kept, `${kept}.dataset/manifest.json`, `${kept}.dataset/t0.arrow`,
      parsing, `${parsing}.dataset/manifest.json`, `${parsing}.dataset/t0.arrow`].sort());
    // Clean for the next test.
    for (const k of [kept, parsing]) for (const o of [k, `${k}.dataset/manifest.json`, `${k}.dataset/t0.arrow`]) await store.delete(o);
  });

  it("is safe when several replicas sweep at once", async () => {
    const orphans = await Promise.all(Array.from({ length: 5 }, (_, i) => upload(`o${i}.csv`)));
    const later = () => Date.now() + 2 * HOUR;
    const results = await Promise.all([1, 2, 3].map(() => sweepStaleUploads({ store, bus, log, graceMs: HOUR, now: later })));
    expect(results.every((r) => r.checked === 5)).toBe(true);
    expect(await keys()).toEqual([]);
    expect(orphans.length).toBe(5);
  });

  it("deletes nothing when the catalog cannot be asked", async () => {
    const orphan = await upload("kept-when-catalog-down.csv");
    const lonely = isolatedBus(); // no catalog serves on this bus
    await expect(sweepStaleUploads({ store, bus: lonely, log, graceMs: 0, now: () => Date.now() + HOUR })).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(await keys()).toContain(orphan);
    const sweeper = startSweeper({ store, bus, log, graceMs: 0, intervalMs: 100, now: () => Date.now() + HOUR });
    for (let i = 0; i < 50 && (await keys()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await sweeper.stop();
    expect(await keys()).toEqual([]);
  });
});
