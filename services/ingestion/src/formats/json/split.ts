import { AppError } from "@dsb/contracts";

/** Largest single array element we hold in memory. */
export const MAX_ELEMENT_CHARS = 64 * 1024 * 1024;

const fail = (message: string) => new AppError("PARSE_FAILED", message);

/** The file stops in the middle of a JSON value: say so (an upload cut short), not that its shape is wrong. */
export const truncatedJson = (bytes: number, where = "") =>
  fail(`The JSON file ends unexpectedly at byte ${bytes}${where ? ` ${where}` : ""} (truncated?); upload the complete file`);

/**
 * Splits the text of a top-level JSON array into the source text of its
 * elements without parsing the whole document, so memory is bounded by the
 * largest element. Tracks lines for error messages. Each element is then
 * parsed with JSON.parse, which reports what is wrong inside it.
 */
export async function* splitJsonArray(chunks: AsyncIterable<string | Buffer>): AsyncGenerator<{ text: string; line: number; index: number }> {
  let state: "before" | "inArray" | "after" = "before";
  let line = 1;
  let depth = 0; // nesting inside the current element
  let inString = false;
  let escape = false;
  let parts: string[] = [];
  let partLen = 0;
  let elemStart = -1; // index in the current chunk where the element began, or -1 if none / carried over in parts
  let elemLine = 0;
  let started = false; // an element has begun (non-whitespace seen)
  let index = 0;
  let expectValue = true; // after "[" or ","
  let firstChunk = true;
  let bytes = 0;

  for await (const raw of chunks) {
    bytes += typeof raw === "string" ? Buffer.byteLength(raw) : raw.length;
    let s = typeof raw === "string" ? raw : raw.toString("utf8");
    if (firstChunk) { s = s.replace(/^\uFEFF/, ""); firstChunk = false; }
    elemStart = started ? 0 : -1;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10) line++;
      if (state === "before") {
        if (c === 0x5b) { state = "inArray"; continue; } // [
        if (c === 32 || c === 9 || c === 10 || c === 13) continue;
        throw fail(`The JSON file must be an array of objects ([ {...}, ... ]); found "${s[i]}" on line ${line}`);
      }
      if (state === "after") {
        if (c === 32 || c === 9 || c === 10 || c === 13) continue;
        throw fail(`Unexpected content after the closing ] of the JSON array on line ${line}`);
      }
      if (inString) {
        if (escape) escape = false;
        else if (c === 0x5c) escape = true;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (!started) {
        if (c === 32 || c === 9 || c === 10 || c === 13) continue;
        if (c === 0x5d && depth === 0) { // ]
          if (!expectValue || index > 0) throw fail(`Invalid JSON on line ${line}: a comma is followed by ]`);
          state = "after";
          continue;
        }
        if (c === 0x2c) throw fail(`Invalid JSON on line ${line}: unexpected comma`);
        started = true; elemStart = i; elemLine = line; expectValue = false;
      }
      if (c === 0x22) { inString = true; continue; }
      if (c === 0x7b || c === 0x5b) { depth++; continue; }
      if (c === 0x7d || c === 0x5d) {
        if (depth > 0) { depth--; continue; }
        // the closing ] of the array ends the last element
        parts.push(s.slice(elemStart, i));
        yield { text: parts.join(""), line: elemLine, index: index++ };
        parts = []; partLen = 0; started = false; elemStart = -1;
        state = "after";
        continue;
      }
      if (c === 0x2c && depth === 0) {
        parts.push(s.slice(elemStart, i));
        yield { text: parts.join(""), line: elemLine, index: index++ };
        parts = []; partLen = 0; started = false; elemStart = -1; expectValue = true;
        continue;
      }
    }
    if (started && elemStart >= 0) {
      const rest = s.slice(elemStart);
      parts.push(rest);
      partLen += rest.length;
      if (partLen > MAX_ELEMENT_CHARS) throw fail(`An element of the JSON array (starting on line ${elemLine}) is larger than ${MAX_ELEMENT_CHARS} characters`);
    }
  }
  if (state === "before") throw fail("The file contains no JSON array");
  if (state === "inArray") throw truncatedJson(bytes, `on line ${line}, before the array's closing ]`);
}
