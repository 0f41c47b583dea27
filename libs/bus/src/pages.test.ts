import { describe, expect, it } from "vitest";
import { CursorRegistry, PAGES_AHEAD, PageReader, rowBytes } from "./pages.ts";

async function* batches(n: number, size: number, onReturn: () => void) {
  try {
    for (let i = 0; i < n; i += size) yield Array.from({ length: Math.min(size, n - i) }, (_, j) => [i + j, `row-${i + j}`]);
  } finally {
    onReturn();
  }
}

describe("PageReader", () => {
  it("cuts batches into pages under the byte budget without losing or repeating rows", async () => {
    let closed = false;
    const reader = new PageReader(batches(10_000, 777, () => { closed = true; }));
    const seen: number[] = [];
    while (!reader.done) {
      const page = await reader.next(4096);
      const bytes = page.reduce((n, r) => n + rowBytes(r), 0);
      expect(bytes).toBeLessThanOrEqual(4096);
      for (const r of page) seen.push(r[0] as number);
      if (!(await reader.hasMore())) break;
    }
    expect(seen).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(closed).toBe(true);
  });

  it("measures multi-byte and escaped strings by their encoded size", () => {
    expect(rowBytes(["héllo"])).toBe(2 + 1 + Buffer.byteLength(JSON.stringify("héllo")));
    expect(rowBytes(['a"b'])).toBe(2 + 1 + JSON.stringify('a"b').length);
  });

  it("respects a row cap and closes the source on close()", async () => {
    let closed = false;
    const reader = new PageReader(batches(100, 10, () => { closed = true; }));
    expect((await reader.next(1_000_000, 15)).length).toBe(15);
    await reader.close();
    expect(closed).toBe(true);
  });
});

describe("CursorRegistry", () => {
  it("closes idle cursors and refuses unknown ids with NOT_FOUND", async () => {
    let closedMeta: string | null = null;
    const reg = new CursorRegistry<string>({ idleMs: 50, maxOpen: 2, onClose: (m) => { closedMeta = m; } });
    const id = reg.add(new PageReader(batches(10, 5, () => {})), "meta-1");
    expect(await reg.use(id, (r) => r.next(10_000, 5))).toHaveLength(5);
    await new Promise((r) => setTimeout(r, 120));
    expect(closedMeta).toBe("meta-1");
    await expect(reg.use(id, (r) => r.next(10))).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("takes the pulls a reader keeps out in turn, in the order they came, and refuses one more with CONFLICT", async () => {
    const reg = new CursorRegistry<string>({ idleMs: 10_000, maxOpen: 2 });
    const id = reg.add(new PageReader(batches(100, 10, () => {})), "m");
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const order: string[] = [];
    const pulls = Array.from({ length: PAGES_AHEAD }, (_, i) => reg.use(id, async (r) => {
      order.push(`start ${i}`);
      if (i === 0) await gate;
      const rows = await r.next(10_000, 5);
      order.push(`end ${i}`);
      return rows[0]![0];
    }));
    await expect(reg.use(id, async () => 0)).rejects.toMatchObject({ code: "CONFLICT" });
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(["start 0"]);
    release();
    expect(await Promise.all(pulls)).toEqual(Array.from({ length: PAGES_AHEAD }, (_, i) => i * 5));
    expect(order).toEqual(Array.from({ length: PAGES_AHEAD }, (_, i) => [`start ${i}`, `end ${i}`]).flat());
    await reg.closeAll();
  });

  it("answers a pull waiting its turn NOT_FOUND when the cursor closes meanwhile; a close reads the meta without waiting", async () => {
    let closed = 0;
    const reg = new CursorRegistry<string>({ idleMs: 10_000, maxOpen: 2, onClose: () => { closed++; } });
    const id = reg.add(new PageReader(batches(100, 10, () => {})), "meta-2");
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let started!: () => void;
    const isRunning = new Promise<void>((r) => { started = r; });
    const running = reg.use(id, async () => { started(); await gate; return "first"; });
    const waiting = reg.use(id, async () => "second").catch((e: unknown) => e);
    await isRunning;
    expect(reg.peek(id)).toBe("meta-2");
    await reg.close(id);
    expect(closed).toBe(1);
    release();
    expect(await running).toBe("first");
    expect(await waiting).toMatchObject({ code: "NOT_FOUND" });
    expect(reg.peek(id)).toBeUndefined();
  });

  it("answers the pull kept out behind the last page with `ended` (NOT_FOUND without it), and a pull after the finish too", async () => {
    let closed = 0;
    const reg = new CursorRegistry<string, string>({ idleMs: 10_000, maxOpen: 2, onClose: () => { closed++; } });
    const id = reg.add(new PageReader(batches(10, 10, () => {})), "meta-3");
    const ended = (summary: string) => `ended ${summary}`;
    const last = reg.use(id, async (r) => {
      const rows = await r.next(10_000);
      await reg.finish(id, "summary-3");
      return `last ${rows.length}`;
    }, ended);
    const surplus = reg.use(id, async () => "read again", ended);
    const bare = reg.add(new PageReader(batches(10, 10, () => {})), "meta-4");
    const lastBare = reg.use(bare, async () => { await reg.finish(bare, "summary-4"); return "last"; });
    const surplusBare = reg.use(bare, async () => "read again").catch((e: unknown) => e);
    expect(await last).toBe("last 10");
    expect(await surplus).toBe("ended summary-3");
    expect(await lastBare).toBe("last");
    expect(await surplusBare).toMatchObject({ code: "NOT_FOUND" });
    expect(closed).toBe(2);
    expect(await reg.use(id, async () => "read again", ended)).toBe("ended summary-3");
    expect(reg.size).toBe(0);
    // A cursor closed (not finished) is not found.
    const gone = reg.add(new PageReader(batches(10, 10, () => {})), "meta-5");
    await reg.close(gone);
    await expect(reg.use(gone, async () => "read again", ended)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("bounds the number of open cursors", () => {
    const reg = new CursorRegistry({ idleMs: 10_000, maxOpen: 1 });
    reg.add(new PageReader(batches(1, 1, () => {})), null);
    expect(() => reg.add(new PageReader(batches(1, 1, () => {})), null)).toThrow(/Too many open result cursors/);
    void reg.closeAll();
  });
});
