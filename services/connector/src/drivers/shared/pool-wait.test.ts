import { describe, expect, it } from "vitest";
import { mapDriverError } from "../../driver-errors.ts";
import { DriverError } from "../types.ts";
import { poolBusyError, waitForConnection } from "./pool-wait.ts";

/** A checkout the test settles by hand, and what was given back. */
function checkout() {
  let resolve!: (c: string) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<string>((res, rej) => { resolve = res; reject = rej; });
  const givenBack: string[] = [];
  return { promise, resolve, reject, givenBack, giveBack: (c: string) => void givenBack.push(c) };
}

const settled = () => new Promise((r) => setTimeout(r, 0));
const aborted = () => new DriverError("timeout", "stopped while waiting");
const busy = () => poolBusyError(15, 60_000);

describe("waitForConnection", () => {
  it("a wait stopped by its signal fails with the driver's error; the connection that comes later is given back unused", async () => {
    const c = checkout();
    const ac = new AbortController();
    const waiting = waitForConnection(c.promise, c.giveBack, { signal: ac.signal, aborted, busy });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ kind: "timeout", message: "stopped while waiting" });
    c.resolve("late");
    await settled();
    expect(c.givenBack).toEqual(["late"]);
  });

  it("an already aborted signal fails at once and the checkout's connection is given back", async () => {
    const c = checkout();
    const ac = new AbortController();
    ac.abort();
    await expect(waitForConnection(c.promise, c.giveBack, { signal: ac.signal, aborted, busy })).rejects.toThrow("stopped while waiting");
    c.resolve("late");
    await settled();
    expect(c.givenBack).toEqual(["late"]);
  });

  it("without a signal the wait ends after boundMs with the all-busy error (kind timeout, says how to fix it)", async () => {
    const c = checkout();
    const err = await waitForConnection(c.promise, c.giveBack, { boundMs: 20, busy }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "timeout", message: expect.stringMatching(/All 15 connections of this source .* busy .*retry when the running queries finish/) });
    // test(), health checks and introspection map it without a query timeout: TIMEOUT (504, retryable) with this message.
    const api = mapDriverError(err, "connect");
    expect([api.code, api.message, api.retryable]).toEqual(["TIMEOUT", (err as Error).message, true]);
    c.resolve("late");
    await settled();
    expect(c.givenBack).toEqual(["late"]);
  });

  it("a connection in time is the caller's, and the checkout's own error passes through unchanged", async () => {
    const ok = checkout();
    const ac = new AbortController();
    const got = waitForConnection(ok.promise, ok.giveBack, { signal: ac.signal, aborted, busy });
    ok.resolve("mine");
    expect(await got).toBe("mine");
    ac.abort();
    await settled();
    expect(ok.givenBack).toEqual([]);
    const bad = checkout();
    const refused = new Error("ECONNREFUSED");
    const failing = waitForConnection(bad.promise, bad.giveBack, { signal: new AbortController().signal, aborted, busy });
    bad.reject(refused);
    await expect(failing).rejects.toBe(refused);
  });
});
