import { describe, expect, it } from "vitest";
import { Cancellation, untilAborted } from "./running-queries.ts";

describe("Cancellation", () => {
  it("calls each listener once, with the reason set, and never after it stopped listening", () => {
    const c = new Cancellation();
    const calls: string[] = [];
    c.onAbort(() => calls.push(`a:${String(c.reason)}`));
    const stop = c.onAbort(() => calls.push("b"));
    stop();
    c.abort("why");
    c.abort("again");
    expect(calls).toEqual(["a:why"]);
    expect(c.aborted).toBe(true);
  });

  it("calls a listener added after the abort at once", () => {
    const c = new Cancellation();
    c.abort(1);
    let called = 0;
    c.onAbort(() => called++);
    expect(called).toBe(1);
  });

  it("untilAborted rejects with the reason when aborted first, and leaves no listener behind when the promise wins", async () => {
    const c = new Cancellation();
    const never = new Promise<number>(() => {});
    const waiting = untilAborted(never, c);
    c.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
    const d = new Cancellation();
    await expect(untilAborted(Promise.resolve(7), d)).resolves.toBe(7);
    expect((d as unknown as { listeners: Set<unknown> }).listeners.size).toBe(0);
  });
});
