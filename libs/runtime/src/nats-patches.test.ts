import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { coalesceWrites, natsSocket, sendUnpacked, UNPACK_FROM_BYTES } from "./sockets.ts";
import { exactPayloads, recyclePayload } from "./nats-payloads.ts";
import { TestNatsServer } from "../../../test/support/nats-server.ts";

let nats: TestNatsServer;
let pub: NatsConnection;
let sub: NatsConnection;
/** The NATS patches connectBus applies, on a connection pair of a private nats-server: the writer unpacked, the reader exact. */
beforeAll(async () => {
  exactPayloads();
  nats = await TestNatsServer.start();
  pub = await connect({ servers: nats.url });
  sub = await connect({ servers: nats.url });
  coalesceWrites(natsSocket(pub)!, "loop");
  sendUnpacked(pub);
});
afterAll(async () => {
  await pub?.close();
  await sub?.close();
  await nats?.dispose();
});

describe("sendUnpacked (a NATS connection writing large turns without nats.js's copy)", () => {
  it("delivers large and small messages of one turn intact and in order, with headers and replies", async () => {
    const sizes = [10, 900_000, 3, UNPACK_FROM_BYTES, 500_000, 0, 70_000];
    const bodies = sizes.map((n) => randomBytes(n));
    const got: { data: Uint8Array; reply?: string }[] = [];
    const s = sub.subscribe("unpacked.>", { callback: (_e, m) => { got.push({ data: m.data, reply: m.reply }); } });
    await sub.flush();
    for (let round = 0; round < 3; round++) {
      // One turn: all of them together pass the threshold.
      bodies.forEach((b, i) => pub.publish(`unpacked.${i}`, b, { reply: `r.${round}.${i}` }));
      await pub.flush();
    }
    await sub.flush();
    await new Promise((r) => setTimeout(r, 100));
    s.unsubscribe();
    expect(got).toHaveLength(3 * sizes.length);
    got.forEach((m, k) => {
      const i = k % sizes.length;
      expect(Buffer.from(m.data).equals(bodies[i]!), `message ${k}`).toBe(true);
      expect(m.reply).toBe(`r.${Math.floor(k / sizes.length)}.${i}`);
    });
  });
});

describe("exactPayloads (messages split across socket reads gathered in one buffer of their size)", () => {
  it("delivers large, small and empty messages intact, with headers, each over a buffer of about its size", async () => {
    const sizes = [1_000_000, 10, 900_000, 0, 65_537, 200_000, 1];
    const bodies = sizes.map((n) => randomBytes(n));
    const got: { data: Uint8Array; h?: string }[] = [];
    const s = sub.subscribe("exact.>", { callback: (_e, m) => { got.push({ data: m.data, h: m.headers?.get("x-part") }); } });
    await sub.flush();
    for (let round = 0; round < 2; round++) {
      bodies.forEach((b, i) => {
        const h = headers();
        h.set("x-part", `${round}.${i}`);
        pub.publish(`exact.${i}`, b, i % 2 ? { headers: h } : {});
      });
      await pub.flush();
    }
    await sub.flush();
    await new Promise((r) => setTimeout(r, 100));
    s.unsubscribe();
    expect(got).toHaveLength(2 * sizes.length);
    got.forEach((m, k) => {
      const i = k % sizes.length;
      expect(Buffer.from(m.data).equals(bodies[i]!), `message ${k}`).toBe(true);
      expect(m.h).toBe(i % 2 ? `${Math.floor(k / sizes.length)}.${i}` : undefined);
      // The growing buffer it replaces kept up to twice a large message's size alive behind its view (pooled sizes go in 64 KiB steps).
      if (sizes[i]! > 100_000) expect(m.data.buffer.byteLength, `message ${k}`).toBeLessThanOrEqual(sizes[i]! + 64 * 1024);
    });
  });
});

describe("recyclePayload (a large payload handed back is written into by a later message)", () => {
  /** The next `n` messages on `subject`, as they arrive. */
  function receive(subject: string) {
    const queue: Uint8Array[] = [];
    let wake: (() => void) | null = null;
    const s = sub.subscribe(subject, { callback: (_e, m) => { queue.push(m.data); wake?.(); } });
    return {
      async next(): Promise<Uint8Array> {
        while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
        wake = null;
        return queue.shift()!;
      },
      stop: () => s.unsubscribe(),
    };
  }

  it("reuses a handed-back buffer for the next message of its size, whose bytes are its own", async () => {
    const inbox = receive("recycle.reuse");
    await sub.flush();
    const bodies = Array.from({ length: 6 }, () => randomBytes(1024 * 1024));
    const buffers = new Set<ArrayBufferLike>();
    for (const body of bodies) {
      pub.publish("recycle.reuse", body);
      await pub.flush();
      const data = await inbox.next();
      expect(Buffer.from(data).equals(body)).toBe(true);
      buffers.add(data.buffer);
      recyclePayload(data);
    }
    inbox.stop();
    expect(buffers.size).toBe(1);
  });

  it("hands a buffer given back twice to one message only, and never takes a view of a socket read", async () => {
    const inbox = receive("recycle.twice");
    await sub.flush();
    const first = randomBytes(1024 * 1024);
    pub.publish("recycle.twice", first);
    await pub.flush();
    const a = await inbox.next();
    recyclePayload(a);
    recyclePayload(a);
    // Two more, both held: each must have memory of its own.
    const [b1, b2] = [randomBytes(1024 * 1024), randomBytes(1024 * 1024)];
    pub.publish("recycle.twice", b1);
    pub.publish("recycle.twice", b2);
    await pub.flush();
    const [x, y] = [await inbox.next(), await inbox.next()];
    expect(x.buffer).not.toBe(y.buffer);
    expect(Buffer.from(x).equals(b1)).toBe(true);
    expect(Buffer.from(y).equals(b2)).toBe(true);
    // A small message is a view of the socket read it came in: handing it back must not make that read buffer a payload.
    pub.publish("recycle.twice", Buffer.from("small"));
    await pub.flush();
    const small = await inbox.next();
    recyclePayload(small);
    const big = randomBytes(small.buffer.byteLength);
    pub.publish("recycle.twice", big);
    await pub.flush();
    const after = await inbox.next();
    expect(after.buffer).not.toBe(small.buffer);
    expect(Buffer.from(small).toString()).toBe("small");
    inbox.stop();
  });
});
