import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { coalesceWrites, natsSocket, sendUnpacked, UNPACK_FROM_BYTES } from "./sockets.ts";
import { TestNatsServer } from "../../../test/support/nats-server.ts";

let nats: TestNatsServer;
let pub: NatsConnection;
let sub: NatsConnection;
beforeAll(async () => {
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
