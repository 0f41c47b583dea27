import { bomEncoding, bomlessUtf16, isUtf8Slice } from "./encoding.ts";

/**
 * Format detection hook: true when the first bytes of a file read as text
 * (UTF-8, UTF-16 or a single-byte encoding) with almost no control characters
 * and do not start like JSON (`{` or `[`). An empty head is claimed too, so
 * that the CSV reader can answer "The file is empty" instead of "unknown format".
 */
export function looksLikeDelimitedText(head: Uint8Array): boolean {
  if (head.length === 0) return true;
  const utf16 = bomEncoding(head) ?? bomlessUtf16(head);
  let text: string;
  if (utf16 === "utf-16le" || utf16 === "utf-16be") {
    text = new TextDecoder(utf16).decode(head.subarray(0, head.length & ~1));
  } else {
    // No NUL in text files; zip (xlsx), parquet and other binaries have plenty.
    if (head.includes(0)) return false;
    text = new TextDecoder(isUtf8Slice(head, false) ? "utf-8" : "windows-1252").decode(head);
  }
  let control = 0;
  let firstVisible = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12) control++;
    else if (firstVisible < 0 && c !== 32 && c !== 9 && c !== 10 && c !== 13 && c !== 0xfeff) firstVisible = c;
  }
  if (control > text.length * 0.01) return false;
  return firstVisible !== 123 && firstVisible !== 91;
}
