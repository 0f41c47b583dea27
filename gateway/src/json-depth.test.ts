import { describe, expect, it } from "vitest";
import { jsonDepthExceeds } from "./json-depth.ts";

describe("jsonDepthExceeds", () => {
  it("counts arrays and objects, not brackets inside strings or escaped quotes", () => {
    expect(jsonDepthExceeds('{"a":[{"b":[1]}]}', 4)).toBe(false);
    expect(jsonDepthExceeds('{"a":[{"b":[1]}]}', 3)).toBe(true);
    expect(jsonDepthExceeds(JSON.stringify({ s: "[[[[[[{{{{{{", t: 'q\\"[[[[[[' }), 2)).toBe(false);
    expect(jsonDepthExceeds(`${"[".repeat(65)}${"]".repeat(65)}`, 64)).toBe(true);
    expect(jsonDepthExceeds(`${"[".repeat(64)}${"]".repeat(64)}`, 64)).toBe(false);
    // Siblings do not add up.
    expect(jsonDepthExceeds(JSON.stringify(Array.from({ length: 1000 }, () => [[1]])), 3)).toBe(false);
  });
});
