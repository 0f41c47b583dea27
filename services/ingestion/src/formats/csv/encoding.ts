import { isUtf8 } from "node:buffer";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";

/** Text encodings the delimited reader understands (WHATWG labels). */
export const TEXT_ENCODINGS = ["utf-8", "utf-16le", "utf-16be", "windows-1252"] as const;
export type TextEncodingName = (typeof TEXT_ENCODINGS)[number];

/** Large reads keep the per-chunk overhead (decode call, leftover join) negligible. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** Encoding from a byte-order mark, or null. */
export function bomEncoding(head: Uint8Array): TextEncodingName | null {
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return "utf-8";
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return "utf-16le";
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return "utf-16be";
  return null;
}

/**
 * UTF-16 without a BOM: ASCII text then has a zero byte in every other position.
 * Returns the byte order when at least 40% of the even (BE) or odd (LE) bytes are zero.
 */
export function bomlessUtf16(head: Uint8Array): TextEncodingName | null {
  const n = Math.min(head.length, 4096) & ~1;
  if (n < 4) return null;
  let evenZero = 0;
  let oddZero = 0;
  for (let i = 0; i < n; i += 2) {
    if (head[i] === 0) evenZero++;
    if (head[i + 1] === 0) oddZero++;
  }
  const pairs = n / 2;
  if (oddZero > pairs * 0.4 && evenZero < pairs * 0.05) return "utf-16le";
  if (evenZero > pairs * 0.4 && oddZero < pairs * 0.05) return "utf-16be";
  return null;
}

/** True when `bytes` is valid UTF-8, tolerating a sequence cut at either end (it is a slice of a file). */
export function isUtf8Slice(bytes: Uint8Array, cutStart: boolean): boolean {
  let start = 0;
  if (cutStart) while (start < bytes.length && start < 4 && (bytes[start]! & 0xc0) === 0x80) start++;
  try {
    // stream: true leaves an incomplete trailing sequence pending instead of failing on it.
    new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start), { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Reads `length` bytes at `position` (fewer at the end of the file). */
export async function readBytes(path: string, position: number, length: number): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/**
 * Decoded text of the file in large chunks. The BOM is dropped; with
 * `fatal` an invalid byte sequence throws a TypeError (the caller falls back to windows-1252).
 */
export async function* decodedChunks(path: string, encoding: TextEncodingName, fatal: boolean): AsyncGenerator<string> {
  const decoder = new TextDecoder(encoding, { fatal });
  const stream = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = decoder.decode(chunk, { stream: true });
      if (text.length > 0) yield text;
    }
    const tail = decoder.decode();
    if (tail.length > 0) yield tail;
  } finally {
    stream.destroy();
  }
}

/**
 * The chunks of a file, read into one reused buffer: a chunk is valid only
 * until the next one is asked for (the parsers copy what they keep), so
 * reading a large file allocates nothing per chunk.
 */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const fh = await open(path, "r");
  const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** The same error TextDecoder's fatal mode throws, so callers recognise it. */
const invalidUtf8 = (): Error => Object.assign(new TypeError("The encoded data was not valid for encoding utf-8"), { code: "ERR_ENCODING_INVALID_ENCODED_DATA" });

/** Bytes at the end of `b` that start a UTF-8 sequence the chunk does not complete (0–3). */
function cutSequence(b: Uint8Array): number {
  let k = b.length - 1;
  let back = 0;
  while (k >= 0 && back < 3 && (b[k]! & 0xc0) === 0x80) { k--; back++; }
  if (k < 0) return 0;
  const lead = b[k]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return b.length - k < need ? b.length - k : 0;
}

/**
 * The text of `source` as UTF-8 bytes, for the byte-level parser. UTF-8 passes
 * through untouched (BOM dropped); with `validate` an invalid sequence throws
 * the TextDecoder fatal error (the caller falls back to windows-1252). Other
 * encodings are decoded and re-encoded.
 */
export async function* utf8Bytes(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, encoding: TextEncodingName, validate: boolean): AsyncGenerator<Buffer> {
  if (encoding !== "utf-8") {
    const decoder = new TextDecoder(encoding);
    for await (const chunk of source) {
      const text = decoder.decode(chunk, { stream: true });
      if (text.length > 0) yield Buffer.from(text, "utf8");
    }
    const tail = decoder.decode();
    if (tail.length > 0) yield Buffer.from(tail, "utf8");
    return;
  }
  let head: Buffer | null = Buffer.alloc(0);
  let carry: Buffer = Buffer.alloc(0);
  for await (const raw of source) {
    let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    if (head !== null) {
      // The BOM may be split over the first chunks.
      head = Buffer.concat([head, chunk]);
      if (head.length < 3 && head.every((x, i) => x === [0xef, 0xbb, 0xbf][i])) continue;
      chunk = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? head.subarray(3) : head;
      head = null;
    }
    if (validate) {
      // A sequence cut at the end of a chunk is checked with the start of the next one.
      const all = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const tail = cutSequence(all);
      if (!isUtf8(all.subarray(0, all.length - tail))) throw invalidUtf8();
      carry = Buffer.from(all.subarray(all.length - tail));
    }
    if (chunk.length > 0) yield chunk;
  }
  if (head !== null && head.length > 0) {
    const rest = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? head.subarray(3) : head;
    if (validate && !isUtf8(rest)) throw invalidUtf8();
    if (rest.length > 0) yield rest;
    return;
  }
  if (carry.length > 0) throw invalidUtf8();
}
