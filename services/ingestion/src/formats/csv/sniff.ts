import { type TextEncodingName, readBytes } from "./encoding.ts";
import { ByteRowParser, type Dialect } from "./byte-parser.ts";

/** One piece of the file for dialect sniffing. */
export interface SampleChunk {
  text: string;
  /** True for the beginning of the file (rows are aligned); false for a slice that starts mid-file. */
  atStart: boolean;
  /** True when the slice reaches the end of the file (its last row is complete). */
  atEnd: boolean;
}

export const HEAD_SAMPLE_BYTES = 256 * 1024;
export const SLICE_SAMPLE_BYTES = 64 * 1024;
/** Where the mid-file slices are taken, as fractions of the size. */
const SLICE_POSITIONS = [0.25, 0.5, 0.75, 1] as const;

/** Reads `length` bytes at `position` of the file (fewer at its end). */
export type ReadAt = (position: number, length: number) => Promise<Uint8Array>;

export const fileReader = (path: string): ReadAt => (position, length) => readBytes(path, position, length);

/** Where the mid-file slices of readSamples start (each SLICE_SAMPLE_BYTES long), for a file too big to sample whole. */
export function slicePositions(size: number, encoding: TextEncodingName): number[] {
  const utf16 = encoding === "utf-16le" || encoding === "utf-16be";
  return SLICE_POSITIONS.map((at) => {
    const pos = Math.max(HEAD_SAMPLE_BYTES, Math.floor(size * at) - SLICE_SAMPLE_BYTES);
    return utf16 ? pos & ~1 : pos; // stay on code-unit boundaries
  });
}

/** The start of the file plus slices from the middle and the end, decoded. */
export async function readSamples(read: ReadAt, size: number, encoding: TextEncodingName): Promise<SampleChunk[]> {
  const decode = (bytes: Uint8Array): string => new TextDecoder(encoding).decode(bytes);
  if (size <= HEAD_SAMPLE_BYTES + SLICE_SAMPLE_BYTES * SLICE_POSITIONS.length) {
    return [{ text: decode(await read(0, size)), atStart: true, atEnd: true }];
  }
  const chunks: SampleChunk[] = [{ text: decode(await read(0, HEAD_SAMPLE_BYTES)), atStart: true, atEnd: false }];
  for (const pos of slicePositions(size, encoding)) {
    let bytes = await read(pos, SLICE_SAMPLE_BYTES);
    if (encoding === "utf-8") {
      let skip = 0;
      while (skip < 4 && skip < bytes.length && (bytes[skip]! & 0xc0) === 0x80) skip++;
      bytes = bytes.subarray(skip);
    }
    chunks.push({ text: decode(bytes), atStart: false, atEnd: pos + bytes.length >= size });
  }
  return chunks;
}

const DELIMITERS = [",", ";", "\t", "|"] as const;
/** Tried in this order; a later candidate must be strictly better, so `"` wins ties. */
const QUOTES = ['"', null, "'"] as const;

interface Score {
  /** Most common field count. */
  fields: number;
  /** Share of sampled rows that have that count. */
  consistency: number;
}

/** Field counts per row of one parse of `bytes` (UTF-8), by the reader's own parser. */
function fieldCounts(bytes: Uint8Array, dialect: Dialect, final: boolean): Map<number, number> {
  const counts = new Map<number, number>();
  const parser = new ByteRowParser(dialect, (_f, n) => {
    counts.set(n, (counts.get(n) ?? 0) + 1);
  });
  try {
    parser.push(bytes, final);
  } catch {
    // A quote never closed (at the end of the file): one row this candidate cannot explain.
    counts.set(-1, (counts.get(-1) ?? 0) + 1);
  }
  return counts;
}

const modeShare = (counts: Map<number, number>): number => {
  let total = 0;
  let best = 0;
  for (const [n, c] of counts) {
    total += c;
    if (n >= 0 && c > best) best = c;
  }
  return total === 0 ? 0 : best / total;
};

/** A sample as the parser reads it: its UTF-8 bytes, and for a mid-file slice those after its first line break. */
interface EncodedSample {
  chunk: SampleChunk;
  bytes: Buffer;
  /** null for the start of the file, or a slice without a line break (skipped). */
  rest: Buffer | null;
}

function encodeSample(chunk: SampleChunk): EncodedSample {
  const bytes = Buffer.from(chunk.text);
  if (chunk.atStart) return { chunk, bytes, rest: null };
  const nl = chunk.text.search(/\r|\n/);
  return { chunk, bytes, rest: nl < 0 ? null : Buffer.from(chunk.text.slice(nl + 1)) };
}

function scoreDialect(samples: EncodedSample[], dialect: Dialect): Score {
  const all = new Map<number, number>();
  for (const { chunk, bytes, rest } of samples) {
    let counts: Map<number, number>;
    if (chunk.atStart) counts = fieldCounts(bytes, dialect, chunk.atEnd);
    else {
      if (rest === null) continue;
      // A slice may begin inside a quoted field: try both quote parities and keep the better one.
      counts = fieldCounts(rest, dialect, chunk.atEnd);
      if (dialect.quote !== null) {
        const flipped = fieldCounts(Buffer.concat([Buffer.from(dialect.quote), bytes]), dialect, chunk.atEnd);
        if (modeShare(flipped) > modeShare(counts)) counts = flipped;
      }
    }
    for (const [n, c] of counts) all.set(n, (all.get(n) ?? 0) + c);
  }
  let total = 0;
  let fields = 0;
  let best = 0;
  for (const [n, c] of all) {
    total += c;
    if (n >= 0 && (c > best || (c === best && n > fields))) {
      best = c;
      fields = n;
    }
  }
  return { fields, consistency: total === 0 ? 0 : best / total };
}

/** The dialect and the field count most sampled rows have. */
export interface SniffResult {
  dialect: Dialect;
  fields: number;
}

/**
 * Picks delimiter, quote and escape: the candidate whose rows most often have
 * the same field count wins, then the one with more fields, then the earlier
 * candidate (`,` `;` tab `|`; quote `"`, none, `'`; backslash escape before
 * doubling when the sample has a backslash before a quote). A file where no delimiter
 * splits rows is one column with `,`.
 */
export function sniffDialect(chunks: SampleChunk[]): SniffResult {
  const text = chunks.map((c) => c.text).join("\n");
  const samples = chunks.map(encodeSample);
  let best: Dialect = { delimiter: ",", quote: '"', escape: "double" };
  let bestScore: Score = { fields: 1, consistency: 0 };
  for (const quote of QUOTES) {
    if (quote !== null && !text.includes(quote)) continue;
    const escapes: Dialect["escape"][] = quote !== null && text.includes("\\" + quote) ? ["backslash", "double"] : ["double"];
    for (const delimiter of DELIMITERS) {
      if (!text.includes(delimiter)) continue;
      for (const escape of escapes) {
        const dialect: Dialect = { delimiter, quote, escape };
        const score = scoreDialect(samples, dialect);
        if (score.fields < 2) continue;
        const better =
          score.consistency > bestScore.consistency + 1e-9 ||
          (Math.abs(score.consistency - bestScore.consistency) <= 1e-9 && score.fields > bestScore.fields);
        if (better) {
          best = dialect;
          bestScore = score;
        }
      }
    }
  }
  return { dialect: best, fields: bestScore.fields };
}
