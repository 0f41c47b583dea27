import { describe, expect, it } from "vitest";
import { CsvPager } from "./csv-pages.ts";

async function* chunksOf(parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === "string" ? Buffer.from(p) : p;
}

async function all(pager: CsvPager, budget: number): Promise<string[]> {
  const pages: string[] = [];
  do pages.push(await pager.next(budget));
  while (!pager.done);
  return pages;
}

describe("CsvPager", () => {
  it("ends records with CRLF but keeps newlines inside quoted values, across chunk boundaries", async () => {
    const pager = new CsvPager(chunksOf(['1,"a\nb",x\n2,"say ""', 'hi""\n', ' there",y\n3,,"\n"\n']));
    expect((await all(pager, 1 << 20)).join("")).toBe('1,"a\nb",x\r\n2,"say ""hi""\n there",y\r\n3,,"\n"\r\n');
  });

  it("keeps a multi-byte character split between chunks whole", async () => {
    const bytes = Buffer.from("é,€\n");
    const pager = new CsvPager(chunksOf([bytes.subarray(0, 1), bytes.subarray(1, 4), bytes.subarray(4)]));
    expect((await all(pager, 1 << 20)).join("")).toBe("é,€\r\n");
  });

  it("cuts pages so each fits the budget as a JSON string and loses nothing", async () => {
    const line = '12345,"quoted ""value""",tail\n';
    const pager = new CsvPager(chunksOf(Array.from({ length: 200 }, () => line.repeat(10))));
    const budget = 4096;
    const pages = await all(pager, budget);
    expect(pages.length).toBeGreaterThan(10);
    for (const p of pages) expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThanOrEqual(budget);
    expect(pages.join("")).toBe(line.replaceAll("\n", "\r\n").repeat(2000));
    expect(pager.lines).toBe(2000);
  });

  it("sizes pages exactly with tabs, control characters, backslashes and emoji too", async () => {
    const line = 'a\tb\\c\u0001,"é😀\r\n",\r\n'.replace(/\\u0001/, "\u0001");
    const chunks = Array.from({ length: 300 }, () => line.repeat(7));
    const pager = new CsvPager(chunksOf(chunks));
    const pages = await all(pager, 2048);
    for (const p of pages) expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThanOrEqual(2048);
    expect(pages.join("").length).toBeGreaterThan(chunks.join("").length);
  });
});
