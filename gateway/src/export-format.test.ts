import { describe, expect, it } from "vitest";
import { ndjsonLines } from "./export-format.ts";

/** What NDJSON lines were before they were written by hand: an object per row, stringified. */
const reference = (names: string[], rows: unknown[][]) =>
  rows.map((r) => JSON.stringify(Object.fromEntries(names.map((n, i) => [n, r[i] ?? null])))).join("\n") + "\n";

describe("ndjsonLines", () => {
  it("gives JSON.stringify's text for every kind of value", () => {
    const names = ["id", "name", "quote\"d key", "flag", "obj", "nums", "missing"];
    const rows: unknown[][] = [
      [1, "plain", 'say "hi"\n\tand \\ leave \u0001 é😀', true, { a: [1, "x", null] }, [1.5, -0, 1e21], undefined],
      [-2.5e-7, null, "", false, null, [], null],
      [Number.NaN, "\u2028", "x", null, "string", Number.POSITIVE_INFINITY],
    ];
    expect(ndjsonLines(names, rows)).toBe(reference(names, rows));
    for (const line of ndjsonLines(names, rows).trimEnd().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
  });

  it("keeps columns named like Object.prototype members", () => {
    const names = ["__proto__", "constructor", "toString", "hasOwnProperty"];
    const line = ndjsonLines(names, [[{ a: 1 }, "c", 2, null]]);
    expect(line).toBe('{"__proto__":{"a":1},"constructor":"c","toString":2,"hasOwnProperty":null}\n');
    expect(Object.keys(JSON.parse(line))).toEqual(names);
  });

  it("writes {} per row when there are no columns", () => {
    expect(ndjsonLines([], [[], []])).toBe("{}\n{}\n");
  });
});
