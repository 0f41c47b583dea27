import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { ServiceError, ServiceErrorCodeHeader, ServiceErrorHeader } from "@nats-io/services";
import { Bus, decodeJson, encodeJson, RawJson, WithBytes } from "./bus.ts";
import { MemoryTransport } from "./memory.ts";
import { HEARTBEAT_HEADER, HEARTBEAT_REPLICA_HEADER, HEARTBEAT_TO_HEADER, NatsTransport } from "./nats.ts";
import type { Transport } from "./transport.ts";
import { TestNatsServer } from "../../../test/support/nats-server.ts";

const actor = { tenant_id: "t1", user_id: "u1" };
const source = {
  id: "s1", name: "n", type: "file" as const, format: "csv", db_type: null, schema: null, connection_config: null, file_path: "k",
  user_id: "u1", tenant_id: "t1", is_active: true, created_at: "2025-01-01T00:00:00.000Z", updated_at: "2025-01-01T00:00:00.000Z",
};

function bigSchema(tables: number, columns: number) {
  return {
    tables: Array.from({ length: tables }, (_, t) => ({
      schema: "public", name: `table_${t}`, kind: "table" as const, rowCount: t,
      columns: Array.from({ length: columns }, (_, c) => ({ name: `column_${c}`, type: "INTEGER", nullable: c > 0, primary_key: c === 0 })),
    })),
    schemas: ["public"], total_rows: 0, last_updated: "2025-01-01T00:00:00.000Z",
  };
}
const randomText = (n: number) => randomBytes(n).toString("base64");
/** Binary (zero bytes, gzip's magic, invalid UTF-8) and nearly a whole message. */
const attachment = Buffer.concat([Buffer.from([0, 0x1f, 0x8b, 0xff, 0xfe]), randomBytes(900_000)]);

let nats: TestNatsServer;
beforeAll(async () => { nats = await TestNatsServer.start(); });
afterAll(async () => { await nats.dispose(); });

const transports: [string, () => Promise<[Transport, Transport]>][] = [
  ["memory", async () => { const t = new MemoryTransport(); return [t, t]; }],
  ["nats", async () => [await NatsTransport.connect({ servers: nats.url, name: "server" }), await NatsTransport.connect({ servers: nats.url, name: "client" })]],
];

describe.each(transports)("bus over %s", (_name, make) => {
  let server: Bus;
  let client: Bus;
  beforeAll(async () => {
    const [a, b] = await make();
    server = new Bus(a);
    // Generous: gzipping a 5,000-table schema took over 2 s on a loaded CI machine; the timeout test sets its own.
    client = new Bus(b, { defaultTimeoutMs: 30_000 });
    await server.serve("catalog", {
      "catalog.source.get": async (req, ctx) => {
        if (req.id === "missing") throw new AppError("NOT_FOUND", "Data source not found");
        if (req.id === "boom") throw new Error("secret internal detail");
        if (req.id === "bad-reply") return { source: { ...source, id: 42 } } as never;
        if (req.id === "huge-schema") return { source: { ...source, schema: bigSchema(5000, 20) } };
        if (req.id === "noise") return { source: { ...source, name: randomText(3_000_000) } };
        if (req.id === "slow") await new Promise((r) => setTimeout(r, 3000));
        if (req.id === "raw") return new RawJson(JSON.stringify({ source: { ...source, id: "raw" } }));
        if (req.id === "raw-pieces") return new RawJson(['{"source":', JSON.stringify({ ...source, id: "raw-pieces", name: "naïve ✓ 名前 \u2028" }), "}"].map((p) => new TextEncoder().encode(p)));
        if (req.id === "raw-huge") return new RawJson(JSON.stringify({ source: { ...source, schema: bigSchema(5000, 20) } }));
        return { source: { ...source, id: req.id, name: ctx.requestId } };
      },
    }, { replicaId: "r1" });
    await server.serve("connector", {
      "connector.cursor.*": async (req) => {
        if (req.id === "bytes") return new WithBytes({ rows: [], done: true, row_count: 2, execution_time_ms: 0 }, attachment);
        // The attachment after a gap the frame is written into (or, too small a gap, copied around).
        if (req.id.startsWith("headroom-")) {
          const room = Number(req.id.slice("headroom-".length));
          const page = Buffer.alloc(room + attachment.length, 0x7e);
          attachment.copy(page, room);
          return new WithBytes({ rows: [], done: true, row_count: 2, execution_time_ms: 0 }, page.subarray(room), room);
        }
        return { rows: [[req.id]], done: true, row_count: 1, execution_time_ms: 0 };
      },
    }, { replicaId: "replica7" });
  });
  afterAll(async () => { await server.close(); if (client.transport !== server.transport) await client.close(); });

  it("round-trips a typed request with its request id", async () => {
    const r = await client.request("catalog.source.get", { actor, id: "s9" }, { requestId: "req-1" });
    expect(r.source).toMatchObject({ id: "s9", name: "req-1" });
  });

  it("rebuilds errors as AppError with code and message; internal details stay hidden", async () => {
    await expect(client.request("catalog.source.get", { actor, id: "missing" })).rejects.toMatchObject({ code: "NOT_FOUND", message: "Data source not found", retryable: false });
    const e = await client.request("catalog.source.get", { actor, id: "boom" }).catch((x) => x);
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe("INTERNAL");
    expect(e.message).not.toContain("secret");
  });

  it("validates requests before they leave and replies before they are sent", async () => {
    await expect(client.request("catalog.source.get", { actor, id: "" })).rejects.toMatchObject({ code: "VALIDATION" });
    await expect(client.request("catalog.source.get", { actor, id: "bad-reply" })).rejects.toMatchObject({ code: "INTERNAL" });
  });

  it("carries a binary attachment after the validated reply, byte for byte; request() sees only the reply", async () => {
    const opts = { subject: "connector.cursor.replica7" };
    const { reply, bytes } = await client.requestWithBytes("connector.cursor.*", { id: "bytes", action: "next" }, opts);
    expect(reply).toMatchObject({ rows: [], done: true, row_count: 2 });
    expect(Buffer.from(bytes!).equals(attachment)).toBe(true);
    expect((await client.request("connector.cursor.*", { id: "bytes", action: "next" }, opts)).row_count).toBe(2);
    expect((await client.requestWithBytes("connector.cursor.*", { id: "plain", action: "next" }, opts)).bytes).toBeNull();
    for (const room of [0, 10, 200, 4096]) {
      const r = await client.requestWithBytes("connector.cursor.*", { id: `headroom-${room}`, action: "next" }, opts);
      expect(r.reply.row_count).toBe(2);
      expect(Buffer.from(r.bytes!).equals(attachment), `headroom ${room}`).toBe(true);
    }
  });

  it("sends a RawJson reply as written; requestJson hands the text back unparsed, errors still typed", async () => {
    expect((await client.request("catalog.source.get", { actor, id: "raw" })).source.id).toBe("raw");
    const text = await client.requestJson("catalog.source.get", { actor, id: "raw" });
    expect(text).toBe(JSON.stringify({ source: { ...source, id: "raw" } }));
    // Ordinary replies come back as text too, and over the payload limit (compressed) as well.
    expect(JSON.parse(await client.requestJson("catalog.source.get", { actor, id: "s3" })).source.id).toBe("s3");
    expect(JSON.parse(await client.requestJson("catalog.source.get", { actor, id: "raw-huge" })).source.schema.tables).toHaveLength(5000);
    // Pieces of UTF-8 go out one after the other: the same reply as the text, byte for byte.
    const pieces = JSON.stringify({ source: { ...source, id: "raw-pieces", name: "naïve ✓ 名前 \u2028" } });
    expect((await client.request("catalog.source.get", { actor, id: "raw-pieces" })).source.name).toBe("naïve ✓ 名前 \u2028");
    expect(await client.requestJson("catalog.source.get", { actor, id: "raw-pieces" })).toBe(pieces);
    expect(Buffer.from(await client.requestJsonBytes("catalog.source.get", { actor, id: "raw-pieces" })).equals(Buffer.from(pieces))).toBe(true);
    await expect(client.requestJsonBytes("catalog.source.get", { actor, id: "missing" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(client.requestJson("catalog.source.get", { actor, id: "missing" })).rejects.toMatchObject({ code: "NOT_FOUND", message: "Data source not found" });
    await expect(client.requestJson("catalog.source.get", { actor, id: "" })).rejects.toMatchObject({ code: "VALIDATION" });
  });

  it("carries a message over the payload limit compressed, and refuses one that cannot fit", async () => {
    const r = await client.request("catalog.source.get", { actor, id: "huge-schema" });
    expect(r.source.schema?.tables).toHaveLength(5000);
    expect(r.source.schema?.tables[4999]?.columns[19]?.name).toBe("column_19");
    await expect(client.request("catalog.source.get", { actor, id: "noise" })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  it("turns no responders into UNAVAILABLE and silence into TIMEOUT", async () => {
    await expect(client.request("ingestion.discard", { tenant_id: "t", key: "k" })).rejects.toMatchObject({ code: "UNAVAILABLE", retryable: true });
    await expect(client.request("catalog.source.get", { actor, id: "slow" }, { timeoutMs: 200 })).rejects.toMatchObject({ code: "TIMEOUT", retryable: true });
  });

  it("serves per-replica subjects under the replica id", async () => {
    const r = await client.request("connector.cursor.*", { id: "c1", action: "next" }, { subject: "connector.cursor.replica7" });
    expect(r.rows).toEqual([["c1"]]);
    await expect(client.request("connector.cursor.*", { id: "c1" }, { subject: "connector.cursor.other" })).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });

  it("delivers events to every subscriber", async () => {
    const got: string[] = [];
    const done = new Promise<void>((resolve) => {
      server.subscribe("catalog.events.source.deleted", (e) => { got.push(`a:${e.id}`); if (got.length === 2) resolve(); });
      client.subscribe("catalog.events.source.deleted", (e) => { got.push(`b:${e.id}`); if (got.length === 2) resolve(); });
    });
    await new Promise((r) => setTimeout(r, 50));
    server.publish("catalog.events.source.deleted", { id: "s1", tenant_id: "t1", type: "database", file_path: null });
    await done;
    expect(got.sort()).toEqual(["a:s1", "b:s1"]);
  });

  it("fanout: every listener hears a request, the one that has it answers, silence from all is null", async () => {
    const heard: string[] = [];
    const mine = (who: string, id: string) => async (req: { query_id: string; actor: { user_id: string } }) => {
      heard.push(`${who}:${req.query_id}`);
      if (req.query_id !== id) return null;
      if (req.actor.user_id !== "u1") throw new AppError("FORBIDDEN", "Only the user who ran a query, or an admin, may cancel it");
      return { cancelled: true as const };
    };
    const a = server.listen("gateway.query.cancel", mine("a", "q-a"));
    const b = client.listen("gateway.query.cancel", mine("b", "q-b"));
    await new Promise((r) => setTimeout(r, 50));
    try {
      expect(await client.requestFirst("gateway.query.cancel", { actor, query_id: "q-a" }, { timeoutMs: 2000 })).toEqual({ cancelled: true });
      expect(await server.requestFirst("gateway.query.cancel", { actor, query_id: "q-b" }, { timeoutMs: 2000 })).toEqual({ cancelled: true });
      expect(await client.requestFirst("gateway.query.cancel", { actor, query_id: "nobody" }, { timeoutMs: 300 })).toBeNull();
      await expect(client.requestFirst("gateway.query.cancel", { actor: { ...actor, user_id: "u2" }, query_id: "q-b" }, { timeoutMs: 2000 }))
        .rejects.toMatchObject({ code: "FORBIDDEN" });
      expect(heard.filter((h) => h.endsWith(":nobody")).sort()).toEqual(["a:nobody", "b:nobody"]);
    } finally {
      a.unsubscribe();
      b.unsubscribe();
    }
    // Nobody listening at all: null as well, not an error.
    expect(await client.requestFirst("gateway.query.cancel", { actor, query_id: "q-a" }, { timeoutMs: 300 })).toBeNull();
  });

  it("answers pings for served services only", async () => {
    expect(await client.ping("catalog")).toBe(true);
    expect(await client.ping("ingestion", 300)).toBe(false);
  });
});

describe("bus over NATS across a server restart", () => {
  it("fails fast with UNAVAILABLE during the outage and recovers without a restart", async () => {
    const own = await TestNatsServer.start();
    try {
      const server = new Bus(await NatsTransport.connect({ servers: own.url, name: "s" }));
      const client = new Bus(await NatsTransport.connect({ servers: own.url, name: "c" }), { defaultTimeoutMs: 2000 });
      await server.serve("catalog", { "catalog.source.get": async (req) => ({ source: { ...source, id: req.id } }) }, { replicaId: "r" });
      expect((await client.request("catalog.source.get", { actor, id: "a" })).source.id).toBe("a");

      await own.stop();
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await expect(client.request("catalog.source.get", { actor, id: "b" })).rejects.toMatchObject({ code: "UNAVAILABLE" });
      expect(Date.now() - t0).toBeLessThan(2500);

      await own.start();
      let ok = false;
      for (let i = 0; i < 60 && !ok; i++) {
        ok = await client.request("catalog.source.get", { actor, id: "c" }).then(() => true, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 250));
      }
      expect(ok).toBe(true);
      await server.close();
      await client.close();
    } finally {
      await own.dispose();
    }
  });
});

async function eventuallyTrue(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}

describe("bus over NATS: heartbeats of in-flight requests", () => {
  const HB = 100;
  let own: TestNatsServer;
  let serverT: NatsTransport;
  let client: Bus;
  let release: () => void = () => {};
  beforeAll(async () => {
    own = await TestNatsServer.start();
    serverT = await NatsTransport.connect({ servers: own.url, name: "hb-server" });
    client = new Bus(await NatsTransport.connect({ servers: own.url, name: "hb-client", heartbeatMs: HB }), { defaultTimeoutMs: 10_000 });
    await new Bus(serverT).serve("catalog", {
      "catalog.source.get": async (req) => {
        if (req.id.startsWith("sleep-")) await new Promise((r) => setTimeout(r, Number(req.id.slice(6))));
        if (req.id === "hang") await new Promise<void>((r) => { release = r; });
        return { source: { ...source, id: req.id } };
      },
    }, { replicaId: "hb" });
  });
  afterAll(async () => {
    await client.close();
    await serverT.close().catch(() => undefined);
    await own.dispose();
  });

  it("keeps a request that outlives several heartbeat intervals alive, and sends no heartbeat for a fast one", async () => {
    const watcher = await NatsTransport.connect({ servers: own.url, name: "hb-watch" });
    let beats = 0;
    const sub = watcher.nc.subscribe("_INBOX.hb.>", { callback: () => { beats++; } });
    await watcher.nc.flush();
    for (let i = 0; i < 50; i++) await client.request("catalog.source.get", { actor, id: `fast${i}` });
    await watcher.nc.flush();
    expect(beats).toBe(0);
    const r = await client.request("catalog.source.get", { actor, id: `sleep-${HB * 8}` });
    expect(r.source.id).toBe(`sleep-${HB * 8}`);
    await watcher.nc.flush();
    expect(beats).toBeGreaterThanOrEqual(4);
    sub.unsubscribe();
    await watcher.close();
  });

  it("still times out with TIMEOUT when the handler is alive but slower than the timeout", async () => {
    await expect(client.request("catalog.source.get", { actor, id: `sleep-${HB * 10}` }, { timeoutMs: HB * 4 }))
      .rejects.toMatchObject({ code: "TIMEOUT", retryable: true });
  });

  it("keeps waiting on a replica that is still subscribed but late with its heartbeats (overloaded), and fails one whose heartbeats name a replica that is gone", async () => {
    // Stands in for a replica whose event loop lags: it answers `catalog.source.list` after 8
    // intervals, sending at most one heartbeat first (naming the replica given in the request).
    const lagging = await NatsTransport.connect({ servers: own.url, name: "hb-lagging" });
    const live = `catalog.${(await lagging.nc.request("$SRV.PING.catalog", undefined, { timeout: 2000 })).json<{ id: string }>().id}`;
    lagging.nc.subscribe("catalog.source.list", {
      callback: (_err, msg) => {
        const holder = new URLSearchParams(msg.headers?.get("x-request-id") ?? "").get("holder");
        if (holder) {
          const beat = natsHeaders();
          beat.set(HEARTBEAT_HEADER, "1");
          beat.set(HEARTBEAT_REPLICA_HEADER, holder);
          lagging.nc.publish(msg.headers!.get(HEARTBEAT_TO_HEADER), undefined, { headers: beat });
        }
        setTimeout(() => msg.respond(encodeJson({ ok: true, data: { sources: [], next_cursor: null } })), HB * 8);
      },
    });
    await lagging.nc.flush();
    const list = (holder: string) => client.request("catalog.source.list", { actor }, { requestId: `holder=${holder}` });
    try {
      // No heartbeat at all: the catalog service is still subscribed, so it is only late.
      expect((await list("")).sources).toEqual([]);
      // A heartbeat, then silence, from a replica that is still subscribed.
      expect((await list(live)).sources).toEqual([]);
      // A heartbeat from a replica that is no longer subscribed: nats-server answers "no responders" to its ping.
      await expect(list("catalog.GONE")).rejects.toMatchObject({ code: "UNAVAILABLE", message: "The catalog replica handling this request stopped answering; retry" });
    } finally {
      await lagging.close();
    }
  });

  it("fails a request a replica took and died with before its first heartbeat, while other replicas of the service live on", async () => {
    // A replica known from an earlier request's heartbeat ("catalog.X1", answering its $SRV ping),
    // which then takes a request and dies without a heartbeat; the hb-server replica lives on.
    const doomed = await NatsTransport.connect({ servers: own.url, name: "hb-doomed" });
    doomed.nc.subscribe("$SRV.PING.catalog.X1", { callback: (_err, msg) => void msg.respond(encodeJson({ id: "X1" })) });
    let taken = 0;
    doomed.nc.subscribe("catalog.source.list", {
      callback: (_err, msg) => {
        if (++taken > 1) return; // the second: taken, never answered
        const beat = natsHeaders();
        beat.set(HEARTBEAT_HEADER, "1");
        beat.set(HEARTBEAT_REPLICA_HEADER, "catalog.X1");
        doomed.nc.publish(msg.headers!.get(HEARTBEAT_TO_HEADER), undefined, { headers: beat });
        setTimeout(() => msg.respond(encodeJson({ ok: true, data: { sources: [], next_cursor: null } })), HB * 2);
      },
    });
    await doomed.nc.flush();
    expect((await client.request("catalog.source.list", { actor })).sources).toEqual([]);
    const lost = client.request("catalog.source.list", { actor }).catch((e: unknown) => e);
    await eventuallyTrue(() => taken === 2);
    await doomed.nc.close();
    expect(await lost).toMatchObject({ code: "UNAVAILABLE", message: "The catalog replica handling this request stopped answering; retry" });
  });

  it("fails fast with a retryable UNAVAILABLE when the replica handling a request dies", async () => {
    const t0 = Date.now();
    const pending = client.request("catalog.source.get", { actor, id: "hang" }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, HB * 3));
    // A dead process: its connection goes away without a reply (close() does not drain).
    await serverT.nc.close();
    const err = await pending;
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: "UNAVAILABLE", retryable: true, message: "The catalog replica handling this request stopped answering; retry" });
    expect(Date.now() - t0).toBeLessThan(5_000); // far below the 10 s timeout
    release();
  });
});

/** gzip through the Web's streams, as a runtime without node:zlib (workerd) makes and reads it. */
async function webGzip(bytes: Uint8Array, how: "compress" | "decompress"): Promise<Uint8Array> {
  const transform = how === "compress" ? new CompressionStream("gzip") : new DecompressionStream("gzip");
  return new Uint8Array(await new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(transform)).arrayBuffer());
}

describe("compressed messages between node:zlib (Node) and CompressionStream (edge runtimes)", () => {
  const t = new MemoryTransport();
  beforeAll(async () => {
    await new Bus(t).serve("catalog", {
      "catalog.source.get": async (req) => ({ source: { ...source, id: req.id, schema: req.id === "huge" ? bigSchema(5000, 20) : null } }),
    }, { replicaId: "r1" });
  });
  afterAll(async () => { await t.close(); });

  it("reads a request an edge runtime compressed, and a compressed reply reads back with DecompressionStream", async () => {
    const request = await webGzip(encodeJson({ actor, id: "huge" }), "compress");
    const reply = await t.request("catalog.source.get", request, { timeoutMs: 30_000, headers: {} });
    expect(reply.byteLength).toBeLessThan(t.maxPayload);
    expect([reply[0], reply[1]]).toEqual([0x1f, 0x8b]);
    const env = JSON.parse(new TextDecoder().decode(await webGzip(reply, "decompress"))) as { ok: boolean; data: { source: { schema: ReturnType<typeof bigSchema> } } };
    expect(env.ok).toBe(true);
    expect(env.data.source.schema).toEqual(bigSchema(5000, 20));
  });
});

describe("bus over NATS: error replies carry the micro-service error headers", () => {
  let serverT: NatsTransport;
  let clientT: NatsTransport;
  let client: Bus;
  beforeAll(async () => {
    serverT = await NatsTransport.connect({ servers: nats.url, name: "hdr-server" });
    clientT = await NatsTransport.connect({ servers: nats.url, name: "hdr-client" });
    client = new Bus(clientT, { defaultTimeoutMs: 2000, namespace: "hdr" });
    await new Bus(serverT, { namespace: "hdr" }).serve("catalog", {
      "catalog.source.get": async (req) => {
        if (req.id === "missing") throw new AppError("NOT_FOUND", "Data source not found");
        if (req.id === "boom") throw new Error("secret internal detail");
        return { source: { ...source, id: req.id } };
      },
    }, { replicaId: "r1" });
  });
  afterAll(async () => { await serverT.close(); await clientT.close(); });

  const raw = (id: string) => clientT.nc.request("hdr.catalog.source.get", encodeJson({ actor, id }), { timeout: 2000 });

  it("sets Nats-Service-Error-Code (the HTTP status) and Nats-Service-Error (the stable code), keeping the envelope", async () => {
    const msg = await raw("missing");
    expect(msg.headers?.get(ServiceErrorCodeHeader)).toBe("404");
    expect(msg.headers?.get(ServiceErrorHeader)).toBe("NOT_FOUND");
    expect(ServiceError.toServiceError(msg as never)).toMatchObject({ code: 404, message: "NOT_FOUND" });
    expect(await decodeJson(msg.data)).toEqual({ ok: false, error: { code: "NOT_FOUND", message: "Data source not found", retryable: false } });
    const internal = await raw("boom");
    expect(internal.headers?.get(ServiceErrorCodeHeader)).toBe("500");
    expect(internal.headers?.get(ServiceErrorHeader)).toBe("INTERNAL");
    expect(new TextDecoder().decode(internal.data)).not.toContain("secret");
    const ok = await raw("s1");
    expect(ok.headers?.get(ServiceErrorCodeHeader) ?? "").toBe("");
  });

  it("a reply with only the headers (no envelope) becomes the AppError they name", async () => {
    const sub = serverT.nc.subscribe("hdr.catalog.source.list", {
      callback: (_err, msg) => {
        const h = natsHeaders();
        h.set(ServiceErrorCodeHeader, "403");
        h.set(ServiceErrorHeader, "FORBIDDEN");
        msg.respond(new Uint8Array(0), { headers: h });
      },
    });
    await serverT.nc.flush();
    try {
      await expect(client.request("catalog.source.list", { actor })).rejects.toMatchObject({ code: "FORBIDDEN" });
    } finally {
      sub.unsubscribe();
    }
    await expect(client.request("catalog.source.get", { actor, id: "missing" })).rejects.toMatchObject({ code: "NOT_FOUND", message: "Data source not found" });
  });
});
