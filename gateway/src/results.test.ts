import { describe, expect, it } from "vitest";
import { AppError, type QueryPage } from "@dsb/contracts";
import { PAGES_AHEAD, type Bus } from "@dsb/bus";
import { allPages, type Page } from "./results.ts";

const cursor = { subject: "connector.cursor.r1", id: "c1" };
const pageOf = (n: number, last: number): QueryPage => ({
  rows: [[n]], done: n === last, truncated: false, row_count: n, execution_time_ms: 0, ...(n === last ? {} : { cursor }),
});

/**
 * A replica holding a cursor of `last` pages, answering each "next" in order after `delayMs`: how
 * many were out at once, and every request (a "next" after the last page is NOT_FOUND, as its cursor closed).
 */
function replica(last: number, delayMs = 2, reorder = false) {
  let served = 1;
  let out = 0;
  const seen = { maxOut: 0, next: 0, close: 0 };
  const requestWithBytes = async (_name: string, req: { action: string }) => {
    seen.next++;
    out++;
    seen.maxOut = Math.max(seen.maxOut, out);
    const n = ++served;
    await new Promise((r) => setTimeout(r, delayMs));
    out--;
    if (req.action !== "next" || n > last) throw new AppError("NOT_FOUND", "Result cursor not found or expired; run the query again");
    return { reply: pageOf(reorder && n === 2 ? 3 : reorder && n === 3 ? 2 : n, last), bytes: null };
  };
  const request = async (_name: string, req: { action: string }) => {
    if (req.action === "close") seen.close++;
    return pageOf(last, last);
  };
  // Only the two calls allPages makes; the rest of Bus is not reached.
  return { bus: { requestWithBytes, request } as unknown as Bus, seen };
}

const collect = async (pages: AsyncGenerator<Page>, stopAfter = Infinity) => {
  const got: number[] = [];
  for await (const p of pages) {
    got.push(p.row_count);
    if (got.length >= stopAfter) break;
  }
  return got;
};

describe("allPages", () => {
  it(`keeps ${PAGES_AHEAD} page requests out, hands the pages on in order, and stops at the last one`, async () => {
    const { bus, seen } = replica(8);
    const got = await collect(allPages(bus, pageOf(1, 8), { requestId: "r", timeoutMs: 1000 }));
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(seen.maxOut).toBe(PAGES_AHEAD);
    // Sent before page 8 said it was the last: at most PAGES_AHEAD − 1 requests more than pages, none waited for, no close.
    expect(seen.next).toBeLessThanOrEqual(7 + PAGES_AHEAD - 1);
    expect(seen.close).toBe(0);
  });

  it("asks for nothing when the first page is the whole result", async () => {
    const { bus, seen } = replica(1);
    expect(await collect(allPages(bus, pageOf(1, 1), { requestId: "r", timeoutMs: 1000 }))).toEqual([1]);
    expect(seen.next + seen.close).toBe(0);
  });

  it("closes the cursor when the consumer stops early (the client went away)", async () => {
    const { bus, seen } = replica(8);
    expect(await collect(allPages(bus, pageOf(1, 8), { requestId: "r", timeoutMs: 1000 }), 3)).toEqual([1, 2, 3]);
    expect(seen.close).toBe(1);
  });

  it("fails rather than write pages out of order", async () => {
    const { bus } = replica(8, 2, true);
    await expect(collect(allPages(bus, pageOf(1, 8), { requestId: "r", timeoutMs: 1000 }))).rejects.toMatchObject({ code: "INTERNAL" });
  });
});
