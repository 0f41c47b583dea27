import { createRequire } from "node:module";
import type { Duplex } from "node:stream";

type ParseFactory = (opts: object) => Duplex;

/**
 * exceljs's streaming reader goes through unzipper 0.10, whose `Parse` emits 'end' as soon as
 * its input is written, while entries may still wait in its read buffer. exceljs stops at that
 * 'end', so when its consumer is slower than the parser the last entries of the zip are dropped
 * (a workbook without its workbook.xml, a sheet silently missing). Upstream: ZJONSSON/node-unzipper#346.
 * This ends the read side with `push(null)` instead, so 'end' comes after the last entry is read.
 * If a later unzipper no longer has that listener, its streams are left as they are.
 */
export function fixUnzipperEnd(unzipper: { Parse: ParseFactory }): void {
  const original = unzipper.Parse;
  if ((original as { endFixed?: true }).endFixed) return;
  const fixed: ParseFactory & { endFixed?: true } = (opts) => {
    const parse = original(opts);
    const early = parse.listeners("finish").filter((l) => /emit\(\s*['"]end['"]\s*\)/.test(String(l)));
    if (early.length !== 1) return parse;
    parse.removeListener("finish", early[0] as () => void);
    parse.on("finish", () => parse.push(null));
    return parse;
  };
  fixed.endFixed = true;
  unzipper.Parse = fixed;
}

/** The unzipper module exceljs itself loads (it may be a nested copy). */
export function exceljsUnzipper(): { Parse: ParseFactory } {
  const here = createRequire(import.meta.url);
  return createRequire(here.resolve("exceljs"))("unzipper") as { Parse: ParseFactory };
}
