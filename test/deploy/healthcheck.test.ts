/** The services' exec probe (deploy/healthcheck.ts) against a nats-server running deploy/nats.conf. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bus } from "@dsb/bus";
import { NatsTransport } from "@dsb/bus/nats";
import { skipped, uniqueId } from "@dsb/runtime/testing";
import { probe } from "../../deploy/healthcheck.ts";
import { startProjectNats, testPassword, type RunningNats } from "./nats-server.ts";
import { buildDist } from "../support/build.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
let nats: RunningNats;
let catalog: NatsTransport;
const envOf = (replica?: string) => ({ NATS_URL: nats.url, NATS_USER: "catalog", NATS_PASS: testPassword("catalog"), REPLICA_ID: replica });

describe("deploy/healthcheck.ts", () => {
  beforeAll(async () => {
    nats = await startProjectNats();
    catalog = await NatsTransport.connect({ servers: nats.url, name: "catalog", user: "catalog", pass: testPassword("catalog") });
    await new Bus(catalog).serve("catalog", { "catalog.config.resolve": async () => ({ id: "x", db_type: "postgresql", config: {}, version: "1" }) }, { replicaId: "catalog-0" });
  });
  afterAll(async () => {
    await catalog?.close();
    await nats?.stop();
  });

  it("is ready when this replica answers $SRV.PING", async () => {
    expect(await probe("ready", "catalog", envOf("catalog-0"))).toMatchObject({ ok: true });
    expect(await probe("ready", "catalog", envOf())).toMatchObject({ ok: true });
  });

  it("is not ready when only other replicas answer, or nobody does", async () => {
    const r = await probe("ready", "catalog", envOf("catalog-7"), 1_000);
    expect(r.ok).toBe(false);
    expect(r.reason).toContain("catalog-0");
    expect((await probe("ready", "connector", { ...envOf("c-1"), NATS_USER: "connector", NATS_PASS: testPassword("connector") }, 1_000)).ok).toBe(false);
  });

  it("fails liveness when NATS answers but this replica does not", async () => {
    expect((await probe("live", "catalog", envOf("catalog-7"), 1_000)).ok).toBe(false);
    expect((await probe("live", "catalog", envOf("catalog-0"))).ok).toBe(true);
  });

  it("passes liveness but not readiness while NATS is unreachable", async () => {
    const down = { ...envOf("catalog-0"), NATS_URL: "nats://127.0.0.1:1" };
    expect(await probe("live", "catalog", down, 1_000)).toMatchObject({ ok: true });
    expect(await probe("ready", "catalog", down, 1_000)).toMatchObject({ ok: false });
  });

  it("pings the namespaced service name when BUS_NAMESPACE is set (machine NATS, no auth)", async (ctx) => {
    const url = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
    let t: NatsTransport;
    try { t = await NatsTransport.connect({ servers: url, name: "hc-ns" }); } catch { skipped("namespaced probe", `no NATS at ${url}`); ctx.skip(); return; }
    const ns = uniqueId("hc");
    try {
      await new Bus(t, { namespace: ns }).serve("ingestion", { "ingestion.discard": async () => ({ removed: false }) }, { replicaId: "ing-0" });
      expect(await probe("ready", "ingestion", { NATS_URL: url, BUS_NAMESPACE: ns, REPLICA_ID: "ing-0" })).toMatchObject({ ok: true });
      expect((await probe("ready", "ingestion", { NATS_URL: url, BUS_NAMESPACE: `${ns}x`, REPLICA_ID: "ing-0" }, 1_000)).ok).toBe(false);
    } finally {
      await t.close();
    }
  });

  it("runs as the probe command of the manifests (the bundle) and exits 0 / 1", async () => {
    buildDist();
    const run = (replica: string) => promisify(execFile)(process.execPath, ["dist/healthcheck.js", "ready", "catalog"], {
      cwd: root, env: { ...process.env, ...envOf(replica) }, timeout: 20_000,
    });
    await expect(run("catalog-0")).resolves.toMatchObject({ stdout: expect.stringContaining("answers") });
    await expect(run("catalog-9")).rejects.toMatchObject({ code: 1 });
  });
});
