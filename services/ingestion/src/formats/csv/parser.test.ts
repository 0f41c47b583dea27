import { describe, expect, it } from "vitest";
import { type Dialect, RowParser } from "./parser.ts";

function parse(chunks: string[], dialect: Dialect): Array<{ line: number; fields: string[] }> {
  const out: Array<{ line: number; fields: string[] }> = [];
  const parser = new RowParser(dialect, (fields, n, line) => out.push({ line, fields: fields.slice(0, n) }));
  for (const c of chunks) parser.push(c, false);
  parser.push("", true);
  return out;
}

const doubled: Dialect = { delimiter: ",", quote: '"', escape: "double" };
const backslash: Dialect = { delimiter: ";", quote: '"', escape: "backslash" };

const cases: Array<[string, Dialect, string]> = [
  ["quotes, doubled quotes, newlines", doubled, 'a,b,c\r\n1,"x, ""y""\r\nz",\r\n\r\n2,"",""""\n3,"p\rq",end\r4,last'],
  ["text after a closing quote and a trailing delimiter", doubled, 'a,b\n"x"y,2\n3,\n'],
  ["backslash escapes", backslash, 'a;b\n"say \\"hi\\"";"c:\\\\dir"\n"multi\\\nline";x\n'],
];

describe("RowParser", () => {
  it.each(cases)("gives the same rows and line numbers for any chunking: %s", (_name, dialect, text) => {
    const whole = parse([text], dialect);
    expect(whole.length).toBeGreaterThan(1);
    expect(parse(text.split(""), dialect)).toEqual(whole);
    for (const size of [2, 3, 5, 7]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(parse(chunks, dialect)).toEqual(whole);
    }
  });

  it("splits fields, unescapes quotes and counts physical lines", () => {
    expect(parse([cases[0]![2]], doubled)).toEqual([
      { line: 1, fields: ["a", "b", "c"] },
      { line: 2, fields: ["1", 'x, "y"\r\nz', ""] },
      { line: 5, fields: ["2", "", '"'] },
      { line: 6, fields: ["3", "p\rq", "end"] },
      { line: 8, fields: ["4", "last"] },
    ]);
    expect(parse([cases[1]![2]], doubled)).toEqual([
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ["xy", "2"] },
      { line: 3, fields: ["3", ""] },
    ]);
    expect(parse([cases[2]![2]], backslash)).toEqual([
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ['say "hi"', "c:\\dir"] },
      { line: 3, fields: ["multi\nline", "x"] },
    ]);
  });
});
