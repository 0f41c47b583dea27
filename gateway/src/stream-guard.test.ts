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
});
