import { createRequire } from "node:module";
import { Readable, type Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { workbook } from "../../../../../test/support/corpus.ts";
import { exceljsUnzipper, fixUnzipperEnd } from "./unzip-end.ts";
import { readXlsx } from "./index.ts";

const fromExceljs = createRequire(createRequire(import.meta.url).resolve("exceljs"));
/** unzipper's own Parse, whatever has been done to the module's export. */
const rawParse = fromExceljs("unzipper/lib/parse") as (opts: object) => Duplex;
/** The loop exceljs reads a zip with. */
const iterateStream = fromExceljs("./lib/utils/iterate-stream.js") as (s: Duplex) => AsyncIterable<{ path: string; autodrain(): void }>;

/** Entry names as exceljs sees them, with a consumer that takes 5 ms over each entry (a temp file, a parser). */
async function entriesSeen(parse: (opts: object) => Duplex, zip: Buffer): Promise<string[]> {
  const stream = parse({ forceStream: true });
  Readable.from([zip]).pipe(stream);
  const seen: string[] = [];
  for await (const entry of iterateStream(stream)) {
    seen.push(entry.path);
    await sleep(5);
    entry.autodrain();
  }
  return seen;
}

describe("unzipper's early 'end' under exceljs", () => {
  // Whether the unpatched reader actually drops entries depends on how the two sides are
  // scheduled (on a loaded machine it sometimes reads them all), so the reason for the fix is
  // checked on the listener itself: unpatched, 'finish' emits 'end' straight away.
  it("unpatched, Parse emits 'end' on 'finish', before its buffered entries are read (why the fix exists)", () => {
    const early = (p: Duplex) => p.listeners("finish").filter((l) => /emit\(\s*['"]end['"]\s*\)/.test(String(l)));
    expect(early(rawParse({ forceStream: true }))).toHaveLength(1);
    const unzipper = { Parse: rawParse };
    fixUnzipperEnd(unzipper);
    expect(early(unzipper.Parse({ forceStream: true }))).toHaveLength(0);
  });

  it("patched, every entry is read before 'end'", async () => {
    const unzipper = { Parse: rawParse };
    fixUnzipperEnd(unzipper);
    const seen = await entriesSeen(unzipper.Parse, await workbook());
    expect(seen).toHaveLength(18); // every entry of the central directory
    expect(seen.at(-1)).toBe("xl/workbook.xml");
  });

  it("the xlsx reader runs with the unzipper exceljs loads patched", async () => {
    expect(readXlsx).toBeTypeOf("function");
    expect((exceljsUnzipper().Parse as { endFixed?: true }).endFixed).toBe(true);
  });
});
