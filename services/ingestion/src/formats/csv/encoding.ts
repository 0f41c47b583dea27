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
