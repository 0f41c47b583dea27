import { describe, expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import { ByteRowParser, fieldText, type Dialect } from "./byte-parser.ts";

type Row = { line: number; fields: string[] };

function viaBytes(chunks: Uint8Array[], dialect: Dialect): Row[] | string {
  const out: Row[] = [];
  const parser = new ByteRowParser(dialect, (f, n, line) => {
    const fields: string[] = [];
    for (let k = 0; k < n; k++) fields.push(fieldText(f, k));
    out.push({ line, fields });
  });
  try {
    // Chunks go through one buffer that is scribbled over after each push, as a reused read buffer would be.
    const shared = Buffer.alloc(Math.max(1, ...chunks.map((c) => c.length)));
    for (const c of chunks) {
      shared.set(c);
      parser.push(shared.subarray(0, c.length), false);
      shared.fill(0x2c);
    }
    parser.push(new Uint8Array(0), true);
  } catch (e) {
    return (e as AppError).message;
  }
  return out;
}

const split = (bytes: Uint8Array, size: number): Uint8Array[] => {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
};

const doubled: Dialect = { delimiter: ",", quote: '"', escape: "double" };
const backslash: Dialect = { delimiter: ";", quote: '"', escape: "backslash" };
const unquoted: Dialect = { delimiter: "\t", quote: null, escape: "double" };

describe("ByteRowParser", () => {
  const fixed: Array<[string, Dialect, Row[] | RegExp]> = [
    ['a,b,c\r\n1,"x, ""y""\r\nz",\r\n\r\n2,"",""""\n3,"p\rq",end\r4,last', doubled, [
      { line: 1, fields: ["a", "b", "c"] },
      { line: 2, fields: ["1", 'x, "y"\r\nz', ""] },
      { line: 5, fields: ["2", "", '"'] },
      { line: 6, fields: ["3", "p\rq", "end"] },
      { line: 8, fields: ["4", "last"] },
    ]],
    ['a,b\n"x"y,2\n3,\n"q""r"s,t\n', doubled, [
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ["xy", "2"] },
      { line: 3, fields: ["3", ""] },
      { line: 4, fields: ['q"rs', "t"] },
    ]],
    ['a;b\n"say \\"hi\\"";"c:\\\\dir"\n"multi\\\nline";x\n"a\\"b"c;d\n', backslash, [
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ['say "hi"', "c:\\dir"] },
      { line: 3, fields: ["multi\nline", "x"] },
      { line: 5, fields: ['a"bc', "d"] },
    ]],
    ["é,ü\n\"ça, va\",日本\n", doubled, [{ line: 1, fields: ["é", "ü"] }, { line: 2, fields: ["ça, va", "日本"] }]],
    ["a\tb\n\"x\t\"y\n", unquoted, [{ line: 1, fields: ["a", "b"] }, { line: 2, fields: ['"x', '"y'] }]],
    ['a,b\n1,"never closed\n2,3\n', doubled, /Line 2 has a quoted field that is never closed/],
    // Escaped fields with segments on both sides of the 64-byte copy threshold.
    [`x\n"${"a".repeat(70)}""${"b".repeat(3)}""${"c".repeat(65)}"\n`, doubled, [
      { line: 1, fields: ["x"] },
      { line: 2, fields: [`${"a".repeat(70)}"bbb"${"c".repeat(65)}`] },
    ]],
  ];

  it.each(fixed)("splits fields, unescapes quotes, counts physical lines and names errors, for any chunking: %j", (text, dialect, want) => {
    const bytes = Buffer.from(text);
    const whole = viaBytes([bytes], dialect);
    if (want instanceof RegExp) expect(whole).toMatch(want);
    else expect(whole).toEqual(want);
    for (const size of [1, 2, 3, 5, 7]) expect(viaBytes(split(bytes, size), dialect)).toEqual(whole);
  });

  it("gives the same rows for any chunking of random files", () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const pieces = ["a", "bc", ",", ";", '"', '""', "\n", "\r\n", "\r", "\\", "x y", "é", "12", ""];
    for (let round = 0; round < 300; round++) {
      let text = "";
      const len = 1 + rnd(60);
      for (let i = 0; i < len; i++) text += pieces[rnd(pieces.length)];
      for (const dialect of [doubled, backslash, unquoted]) {
        const bytes = Buffer.from(text);
        const want = viaBytes([bytes], dialect);
        expect(viaBytes(split(bytes, 1 + rnd(6)), dialect), JSON.stringify(text)).toEqual(want);
        expect(viaBytes(split(bytes, 1), dialect), JSON.stringify(text)).toEqual(want);
      }
    }
  });

  it("splits unquoted fields at exactly the delimiter, LF and CR, whichever bytes lie above or below them", () => {
    // The scan passes bytes above max(delimiter, LF, CR) with one comparison: check every ASCII byte on both sides of it.
    let seed = 11;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) % n;
    const reference = (text: string, delimiter: string): Row[] => text.split(/\r\n|\r|\n/)
      .map((l, i) => ({ line: i + 1, fields: l.split(delimiter) }))
      .filter((r) => r.fields.length > 1 || r.fields[0] !== "");
    for (const delimiter of [",", "\t", ";", "|", " ", "~"]) {
      const dialect: Dialect = { delimiter, quote: null, escape: "double" };
      for (let round = 0; round < 40; round++) {
        let text = "";
        const len = rnd(200);
        for (let i = 0; i < len; i++) text += rnd(10) === 0 ? "é日" : String.fromCharCode(1 + rnd(127));
        const bytes = Buffer.from(text);
        const want = reference(text, delimiter);
        expect(viaBytes([bytes], dialect), JSON.stringify(text)).toEqual(want);
        expect(viaBytes(split(bytes, 1 + rnd(7)), dialect), JSON.stringify(text)).toEqual(want);
      }
    }
  });
});
