import { describe, expect, it } from "vitest";
import { guardStreamedBody } from "./stream-guard.ts";

const body = (chunks: string[]) => new ReadableStream<Uint8Array>({
  start(ctrl) {
    for (const c of chunks) ctrl.enqueue(new TextEncoder().encode(c));
    ctrl.close();
  },
});

describe("guardStreamedBody", () => {
  it("passes a streamed body through chunk by chunk, telling `passed` each chunk's bytes", async () => {
    const seen: number[] = [];
    const res = guardStreamedBody(new Response(body(["id,n\r\n", "1,é\r\n", "2,x\r\n"]), { headers: { "content-type": "text/csv" } }), { destroy: () => undefined }, undefined, (n) => seen.push(n));
    expect(await res.text()).toBe("id,n\r\n1,é\r\n2,x\r\n");
    expect(seen).toEqual([6, 6, 5]);
  });

  it("leaves JSON answers alone", async () => {
    const seen: number[] = [];
    const json = new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
    expect(guardStreamedBody(json, { destroy: () => undefined }, undefined, (n) => seen.push(n))).toBe(json);
    expect(seen).toEqual([]);
  });

  it("holds `hold` from the start of a streamed body until it ends, fails or is cancelled, once each", async () => {
    let held = 0;
    let calls = 0;
    const hold = () => {
      calls++;
      held++;
      return () => { held--; };
    };
    const outgoing = { destroy: () => undefined };
    const ended = guardStreamedBody(new Response(body(["a", "b"]), { headers: { "content-type": "text/csv" } }), outgoing, undefined, undefined, hold);
    expect(held).toBe(1);
    expect(await ended.text()).toBe("ab");
    expect(held).toBe(0);

    const failing = new ReadableStream<Uint8Array>({ pull(ctrl) { ctrl.error(new Error("bus gone")); } });
    const failed = guardStreamedBody(new Response(failing, { headers: { "content-type": "text/csv" } }), outgoing, undefined, undefined, hold);
    expect(held).toBe(1);
    await failed.text();
    expect(held).toBe(0);

    const endless = new ReadableStream<Uint8Array>({ pull(ctrl) { ctrl.enqueue(new Uint8Array(10)); } });
    const cancelled = guardStreamedBody(new Response(endless, { headers: { "content-type": "text/csv" } }), outgoing, undefined, undefined, hold);
    const reader = cancelled.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(held).toBe(0);
    expect(calls).toBe(3);

    guardStreamedBody(new Response('{"ok":true}', { headers: { "content-type": "application/json" } }), outgoing, undefined, undefined, hold);
    expect(calls).toBe(3);
  });
});
