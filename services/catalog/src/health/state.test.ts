import { describe, expect, it } from "vitest";
import { applyCheck, backoffMs, type HealthPolicy } from "./state.ts";

const policy: HealthPolicy = { intervalMs: 120_000, degradedMs: 2000, timeoutMs: 10_000, concurrency: 10, backoffBaseMs: 30_000, backoffMaxMs: 900_000 };
const fail = { ok: false, latency_ms: 5, server_version: null, error: { code: "CONNECTION_FAILED", message: "refused" } };

describe("health state", () => {
  it("is healthy after a fast answer and degraded after a slow one, checked again after the interval", () => {
    const prev = { status: "unhealthy" as const, consecutive_failures: 5 };
    expect(applyCheck(prev, { ok: true, latency_ms: 40, server_version: "x", error: null }, policy, 60_000))
      .toMatchObject({ status: "healthy", consecutive_failures: 0, error: null, success: true, nextInMs: 60_000 });
    expect(applyCheck(prev, { ok: true, latency_ms: 2001, server_version: "x", error: null }, policy, 60_000)).toMatchObject({ status: "degraded", success: true });
  });

  it("is degraded for fewer than 3 failures in a row, then unhealthy", () => {
    let s = { status: "healthy" as "healthy" | "degraded" | "unhealthy" | "unknown", consecutive_failures: 0 };
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const t = applyCheck(s, fail, policy, policy.intervalMs);
      seen.push(t.status);
      s = t;
    }
    expect(seen).toEqual(["degraded", "degraded", "unhealthy", "unhealthy"]);
  });

  it("backs off from 30 s doubling to 15 min, with at most ±20 % jitter", () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, policy, mid))).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 900_000, 900_000, 900_000]);
    expect(backoffMs(1, policy, () => 0)).toBe(24_000);
    expect(backoffMs(1, policy, () => 1)).toBe(36_000);
  });
});
