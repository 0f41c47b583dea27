import { describe, expect, it } from "vitest";
import { canonicalJson, mergeConfig } from "./config-merge.ts";

describe("mergeConfig", () => {
  const stored = { type: "postgresql", host: "a", password: "p1", ssl: { mode: "require", key: "k1" }, credentials: { a: 1, b: 2 } };

  it("keeps secrets left out or sent back redacted, at any depth", () => {
    expect(mergeConfig(stored, { host: "b" })).toEqual({ ...stored, host: "b" });
    expect(mergeConfig(stored, { password: "********", ssl: { mode: "verify-full", key: "********" } }))
      .toEqual({ ...stored, ssl: { mode: "verify-full", key: "k1" } });
  });

  it("replaces a secret object whole and removes fields sent as null", () => {
    expect(mergeConfig(stored, { credentials: { c: 3 }, password: null })).toEqual({ type: "postgresql", host: "a", ssl: stored.ssl, credentials: { c: 3 } });
  });

  it("compares configs whatever their key order", () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [1, { y: 1, x: 2 }] } })).toBe(canonicalJson({ a: { c: [1, { x: 2, y: 1 }], d: 2 }, b: 1 }));
  });
});
