import { describe, expect, it } from "vitest";
import type { ColumnBuilder } from "../../dataset/columns.ts";
import {
  BOOL_CLASS, ISO_DATE_CLASS, ISO_TS_CLASS, SHORT_DECIMAL_CLASS, SMALL_INT_CLASS, boolWord, byteConverterFor, isoDay, isoSeconds, shortDecimal, smallInt,
} from "./convert.ts";
import { NUMERIC, T_ALL, T_BOOL, T_DATE_ISO, T_DOUBLE, T_INT, T_TS_ISO, classifyBytes, formatToType } from "./infer.ts";

/*
 * The single pass skips classifyBytes and the byte converter for values the
 * fast paths accept: for each of them the class and the value must be exactly
 * what the general path gives.
 */
const cases = [
  { name: "smallInt", fast: smallInt, format: T_INT, allowed: NUMERIC, cls: SMALL_INT_CLASS },
  { name: "shortDecimal", fast: shortDecimal, format: T_DOUBLE, allowed: NUMERIC, cls: SHORT_DECIMAL_CLASS },
  { name: "isoDay", fast: isoDay, format: T_DATE_ISO, allowed: ISO_DATE_CLASS, cls: ISO_DATE_CLASS },
  { name: "isoSeconds", fast: isoSeconds, format: T_TS_ISO, allowed: ISO_TS_CLASS, cls: ISO_TS_CLASS },
  // The single pass takes boolWord whatever the column's mask still allows (the class is then mask & BOOL_CLASS).
  { name: "boolWord", fast: boolWord, format: T_BOOL, allowed: T_ALL, cls: BOOL_CLASS },
  { name: "boolWord (bool only)", fast: boolWord, format: T_BOOL, allowed: T_BOOL, cls: BOOL_CLASS },
];

/** What the general path converts a field to. */
function general(format: number, b: Buffer): unknown {
  let got: unknown;
  const out = {
    pushI32: (v: number) => { got = v; }, pushI64: (v: number) => { got = v; }, pushF64: (v: number) => { got = v; },
    pushBool: (v: boolean) => { got = v; }, push: (v: unknown) => { got = v; },
  };
  byteConverterFor(format, formatToType(format))(b, 0, b.length, out as unknown as ColumnBuilder);
  return got;
}

let seed = 7;
const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) % n;
const pick = (s: string) => s[rnd(s.length)]!;

/** Near-miss and valid shapes: random digits and separators in the layouts the fast paths look for. */
function samples(): string[] {
  const out = [
    "0", "-0", "+0", "7", "-7", "+7", "007", "00", "123456789", "-123456789", "1234567890", "2147483647", "-", "+", "", " 1", "1 ",
    "0.5", "-0.0", "+0.25", "5.", ".5", "-.5", "00.5", "01.5", "1.5e3", "123456789012345.5", "12345678901234.5", "0.000000000000001", "1..2", "1.2.3",
    "2024-01-31", "2024-02-29", "2023-02-29", "0099-01-01", "0100-01-01", "2024-13-01", "2024-00-10", "2024-01-00", "2024/01/31", "2024-1-31",
    "2024-01-31 10:00:00", "2024-01-31T23:59:59", "2024-01-31t00:00:00", "2024-01-31 24:00:00", "2024-01-31 10:60:00", "2024-01-31 10:00:60",
    "2024-01-31x10:00:00", "2024-01-31 10:00", "2024-01-31 10:00:00.5", "2024-01-31 10:00:00Z", "0099-12-31 10:00:00",
  ];
  for (let i = 0; i < 20_000; i++) {
    const layout = pick("ndtfgxib");
    let s = "";
    if (layout === "b") {
      // Booleans in random case, and near misses (prefixes, extra letters, spaces, other words).
      const words = ["t", "f", "true", "false", "tru", "fals", "truee", "yes", "no", "y", "n", "nan", "inf", "1", "0"];
      const word = words[rnd(2) ? rnd(4) : rnd(words.length)]!;
      s = Array.from(word, (ch) => (rnd(2) ? ch.toUpperCase() : ch)).join("");
      if (rnd(8) === 0) s = rnd(2) ? ` ${s}` : `${s} `;
    } else if (layout === "i") s = `${pick("-+  ").trim()}${Array.from({ length: 1 + rnd(11) }, () => pick("0123456789")).join("")}`;
    else if (layout === "n") { const len = 1 + rnd(17); for (let k = 0; k < len; k++) s += pick("0123456789012345678901234567890123456789.-+e "); }
    else if (layout === "x") {
      const digits = (n: number) => Array.from({ length: n }, () => pick("0123456789")).join("");
      s = `${pick("-+  ").trim()}${digits(rnd(10))}.${digits(rnd(10))}`;
    } else if (layout === "d") s = "dddd-dd-dd".replace(/d/g, () => pick("01234567890123456789x"));
    else if (layout === "t") s = "dddd-dd-dd dd:dd:dd".replace(/d/g, () => pick("0123456789012345678901234567890123456789x")).replace(" ", pick(" T t"));
    else {
      const p2 = (n: number) => String(rnd(n)).padStart(2, "0");
      s = `${String(rnd(3000)).padStart(4, "0")}-${p2(14)}-${p2(33)}`;
      if (layout === "g") s += `${pick(" T")}${p2(26)}:${p2(62)}:${p2(62)}`;
    }
    out.push(s);
  }
  return out;
}

describe("single-pass fast paths", () => {
  it.each(cases)("$name gives the general path's class and value for every value it accepts", ({ fast, format, allowed, cls }) => {
    let accepted = 0;
    for (const text of samples()) {
      const b = Buffer.from(text);
      let v: unknown;
      const into = { pushI32: (x: number) => { v = x; }, pushI64: (x: number) => { v = x; }, pushF64: (x: number) => { v = x; }, pushBool: (x: boolean) => { v = x; } };
      if (!fast(b, 0, b.length, into as unknown as ColumnBuilder)) continue;
      accepted++;
      const want = { text, cls: classifyBytes(b, 0, b.length, allowed) & allowed, value: general(format, b) };
      const got = { text, cls: cls & allowed, value: v };
      if (got.cls !== want.cls || !Object.is(got.value, want.value)) expect(got).toEqual(want);
    }
    expect(accepted).toBeGreaterThan(500);
  });

  it("converts dates right when the same day repeats and alternates (the converters remember the last day)", () => {
    const days: number[] = [];
    const out = { pushI32: (x: number) => { days.push(x); }, pushI64: (x: number) => { days.push(x / 86_400_000); } };
    const texts = ["2024-02-29", "2024-02-29", "2024-03-01", "2024-02-29 00:00:00", "1970-01-01", "1970-01-01 00:00:00", "0100-03-01", "2024-02-29", "9999-12-31"];
    const want = texts.map((t) => Date.UTC(Number(t.slice(0, 4)), Number(t.slice(5, 7)) - 1, Number(t.slice(8, 10))) / 86_400_000);
    // Date.UTC maps years below 100 to 19xx only; 0100 is kept literally.
    for (const t of texts) {
      const b = Buffer.from(t);
      const fast = t.length === 10 ? isoDay : isoSeconds;
      expect(fast(b, 0, b.length, out as unknown as ColumnBuilder)).toBe(true);
      byteConverterFor(t.length === 10 ? T_DATE_ISO : T_TS_ISO, t.length === 10 ? "date" : "timestamp")(b, 0, b.length, out as unknown as ColumnBuilder);
    }
    expect(days).toEqual(want.flatMap((d) => [d, d]));
  });
});
