import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { coalesceWrites } from "./sockets.ts";

describe("coalesceWrites", () => {
  it("sends the writes of one tick as one batch, in order", async () => {
    const batches: string[][] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) { batches.push([String(chunk)]); cb(); },
      writev(chunks, cb) { batches.push(chunks.map((c) => String(c.chunk))); cb(); },
    });
    coalesceWrites(sink as never);
    for (const m of ["parse", "bind", "describe", "execute", "sync"]) sink.write(m);
    await new Promise((r) => setImmediate(r));
    sink.write("next");
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([["parse", "bind", "describe", "execute", "sync"], ["next"]]);
  });

  it('"loop" also joins writes made by separate callbacks of one event-loop turn', async () => {
    const batches: string[][] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) { batches.push([String(chunk)]); cb(); },
      writev(chunks, cb) { batches.push(chunks.map((c) => String(c.chunk))); cb(); },
    });
    coalesceWrites(sink as never, "loop");
    // Two timers due together run in one timers phase, each as its own callback (a tick apart).
    await new Promise<void>((r) => {
      setTimeout(() => sink.write("a"), 1);
      setTimeout(() => { sink.write("b"); setImmediate(r); }, 1);
    });
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([["a", "b"]]);
  });
});
