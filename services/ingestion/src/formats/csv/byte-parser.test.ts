import { describe, expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import { ByteRowParser, fieldText } from "./byte-parser.ts";
import { type Dialect, RowParser } from "./parser.ts";

type Row = { line: number; fields: string[] };

function viaText(chunks: string[], dialect: Dialect): Row[] | string {
  const out: Row[] = [];
  const parser = new RowParser(dialect, (fields, n, line) => out.push({ line, fields: fields.slice(0, n) }));
  try {
    for (const c of chunks) parser.push(c, false);
    parser.push("", true);
  } catch (e) {
    return (e as AppError).message;
  }
  return out;
}

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
  const fixed: Array<[string, Dialect]> = [
    ['a,b,c\r\n1,"x, ""y""\r\nz",\r\n\r\n2,"",""""\n3,"p\rq",end\r4,last', doubled],
    ['a,b\n"x"y,2\n3,\n"q""r"s,t\n', doubled],
    ['a;b\n"say \\"hi\\"";"c:\\\\dir"\n"multi\\\nline";x\n"a\\"b"c;d\n', backslash],
    ["é,ü\n\"ça, va\",日本\n", doubled],
    ["a\tb\n\"x\t\"y\n", unquoted],
    ['a,b\n1,"never closed\n2,3\n', doubled],
  ];

  it.each(fixed)("gives the rows, fields, line numbers and errors of the text parser for any chunking: %j", (text, dialect) => {
    const bytes = Buffer.from(text);
    const want = viaText([text], dialect);
    expect(viaBytes([bytes], dialect)).toEqual(want);
    for (const size of [1, 2, 3, 5, 7]) expect(viaBytes(split(bytes, size), dialect)).toEqual(want);
  });

  it("agrees with the text parser on random files", () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const pieces = ["a", "bc", ",", ";", '"', '""', "\n", "\r\n", "\r", "\\", "x y", "é", "12", ""];
    for (let round = 0; round < 300; round++) {
      let text = "";
      const len = 1 + rnd(60);
      for (let i = 0; i < len; i++) text += pieces[rnd(pieces.length)];
      for (const dialect of [doubled, backslash, unquoted]) {
        const want = viaText([text], dialect);
        const bytes = Buffer.from(text);
        expect(viaBytes([bytes], dialect), JSON.stringify(text)).toEqual(want);
        expect(viaBytes(split(bytes, 1 + rnd(6)), dialect), JSON.stringify(text)).toEqual(want);
      }
    }
  });
});
