/**
 * Heartbeats of in-flight requests under the project's deploy/nats.conf: a service may send them
 * to its callers' `<inbox>.hb.>` and still answer once afterwards, but may not publish into the
 * part of a caller's inbox that carries replies.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bus } from "@dsb/bus";
import { NatsTransport } from "@dsb/bus/nats";
import { startProjectNats, testPassword, type RunningNats } from "../deploy/nats-server.ts";
import type { NatsUser } from "../../deploy/gen-nats-conf.ts";

const HB = 100;
let nats: RunningNats;
const open: NatsTransport[] = [];
const connectAs = async (user: NatsUser, heartbeatMs?: number) => {
  const t = await NatsTransport.connect({ servers: nats.url, name: `hb-${user}`, user, pass: testPassword(user), heartbeatMs });
  open.push(t);
  return t;
};
const actor = { tenant_id: "t1", user_id: "u1" };
const source = {
  id: "s1", name: "n", type: "file" as const, format: "csv", db_type: null, schema: null, connection_config: null, file_path: "t1/k",
  user_id: "u1", tenant_id: "t1", is_active: true, created_at: "2025-01-01T00:00:00.000Z", updated_at: "2025-01-01T00:00:00.000Z",
};

describe("heartbeats under deploy/nats.conf", () => {
  beforeAll(async () => {
    nats = await startProjectNats();
    const catalog = new Bus(await connectAs("catalog"));
    await catalog.serve("catalog", {
      "catalog.source.get": async (req) => {
        await new Promise((r) => setTimeout(r, HB * 10));
        return { source: { ...source, id: req.id } };
      },
      "catalog.config.resolve": async (req) => {
        await new Promise((r) => setTimeout(r, HB * 10));
        return { id: req.id, db_type: "postgresql", config: {}, version: "1" };
      },
    }, { replicaId: "c1" });
  });
  afterAll(async () => {
    for (const t of open.reverse()) await t.close().catch(() => undefined);
    await nats?.stop();
  });

  it("keeps slow requests of the gateway and of the connector alive past three intervals, then delivers the reply", async () => {
    const gateway = new Bus(await connectAs("gateway", HB), { defaultTimeoutMs: 5_000 });
    expect((await gateway.request("catalog.source.get", { actor, id: "slow" })).source.id).toBe("slow");
    const connector = new Bus(await connectAs("connector", HB), { defaultTimeoutMs: 5_000 });
    expect((await connector.request("catalog.config.resolve", { tenant_id: "t1", id: "slow" })).id).toBe("slow");
  });

  it("lets a caller ping the replicas of the service it calls (how a silent request tells a dead replica from a busy one)", async () => {
    const connector = await connectAs("connector");
    const { id } = (await connector.nc.request("$SRV.PING.catalog", undefined, { timeout: 2000 })).json<{ id: string }>();
    expect((await connector.nc.request(`$SRV.PING.catalog.${id}`, undefined, { timeout: 2000 })).json<{ id: string }>().id).toBe(id);
  });

  it("refuses a service publishing into the reply part of a caller's inbox", async () => {
    const connector = await connectAs("connector");
    const refused = new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of connector.nc.status()) if (s.type === "error") { resolve(String(s.error)); return; }
      })();
    });
    connector.nc.publish("_INBOX_gateway.abcdef.1", new Uint8Array());
    connector.nc.publish("_INBOX_gateway.hb.abcdef.1", new Uint8Array());
    await connector.nc.flush();
    expect(await refused).toMatch(/Permissions Violation for Publish to "_INBOX_gateway\.abcdef\.1"/);
  });
});
