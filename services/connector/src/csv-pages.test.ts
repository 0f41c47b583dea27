import { describe, expect, it } from "vitest";
import { CsvPager } from "./csv-pages.ts";

async function* chunksOf(parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === "string" ? Buffer.from(p) : p;
}

async function all(pager: CsvPager, budget: number): Promise<Buffer[]> {
  const pages: Buffer[] = [];
  do pages.push(await pager.next(budget));
  while (!pager.done);
  return pages;
}
const text = (pages: Buffer[]) => Buffer.concat(pages).toString();

describe("CsvPager", () => {
  it("ends records with CRLF but keeps newlines inside quoted values, across chunk boundaries", async () => {
    const pager = new CsvPager(chunksOf(['1,"a\nb",x\n2,"say ""', 'hi""\n', ' there",y\n3,,"\n"\n', "4,plain\n5,x\n"]));
    expect(text(await all(pager, 1 << 20))).toBe('1,"a\nb",x\r\n2,"say ""hi""\n there",y\r\n3,,"\n"\r\n4,plain\r\n5,x\r\n');
    expect(pager.lines).toBe(5);
  });

  it("passes bytes through untouched, a multi-byte character split between chunks included", async () => {
    const bytes = Buffer.from("é,€\n");
    const pager = new CsvPager(chunksOf([bytes.subarray(0, 1), bytes.subarray(1, 4), bytes.subarray(4)]));
    expect(text(await all(pager, 1 << 20))).toBe("é,€\r\n");
  });

  it("cuts pages at the byte budget and loses nothing", async () => {
    const line = '12345,"quoted ""value""\nsecond line",tail\n';
    const pager = new CsvPager(chunksOf(Array.from({ length: 200 }, () => line.repeat(10))));
    const budget = 4096;
    const pages = await all(pager, budget);
    expect(pages.length).toBeGreaterThan(10);
    for (const p of pages) expect(p.length).toBeLessThanOrEqual(budget);
    expect(text(pages)).toBe('12345,"quoted ""value""\nsecond line",tail\r\n'.repeat(2000));
    expect(pager.lines).toBe(2000);
  });

  it("keeps tabs, control characters, backslashes, CRs and emoji as they are", async () => {
    const line = 'a\tb\\c\u0001,"é😀\r\n",\r\n';
    const pager = new CsvPager(chunksOf(Array.from({ length: 300 }, () => line.repeat(7))));
    expect(text(await all(pager, 2048))).toBe('a\tb\\c\u0001,"é😀\r\n",\r\r\n'.repeat(2100));
  });
});
