import { open } from "node:fs/promises";
import { AppError } from "@dsb/contracts";

/** Limits checked against the zip's central directory before a byte is inflated. */
export interface ZipLimits {
  /** Sum of declared uncompressed sizes. */
  maxUncompressedBytes: number;
  /** Largest inflate ratio of one entry (entries above 1 MiB). */
  maxRatio: number;
  maxEntries: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxUncompressedBytes: 2 * 1024 ** 3, maxRatio: 500, maxEntries: 10_000 };

export interface ZipEntry { name: string; compressed: number; uncompressed: number }

const bomb = (why: string) => new AppError("PARSE_FAILED", `The workbook looks like a zip bomb (${why}); refusing to open it`);
const broken = (why: string) => new AppError("PARSE_FAILED", `The Excel file is truncated or corrupt (${why}); export it again from Excel and re-upload`);

/**
 * Reads the zip central directory (at the end of the file) and refuses archives
 * that are truncated, not a workbook, or that would inflate past the limits.
 */
export async function inspectZip(path: string, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<ZipEntry[]> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    const tailLen = Math.min(size, 65_557);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) if (tail.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
    if (eocd < 0) throw broken("no end-of-archive record");
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff) throw bomb("zip64 archive with more entries or bytes than a spreadsheet needs");
    if (count > limits.maxEntries) throw bomb(`${count} entries`);
    if (cdOffset + cdSize > size) throw broken("central directory past the end of the file");
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const entries: ZipEntry[] = [];
    let total = 0;
    for (let p = 0, n = 0; n < count; n++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw broken("damaged central directory");
      const compressed = cd.readUInt32LE(p + 20);
      const uncompressed = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const localOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString("utf8", p + 46, p + 46 + nameLen);
      if (compressed === 0xffffffff || uncompressed === 0xffffffff) throw bomb(`entry ${name} declares a size over 4 GiB`);
      if (localOffset + compressed > size) throw broken(`entry ${name} runs past the end of the file`);
      total += uncompressed;
      if (total > limits.maxUncompressedBytes) throw bomb(`it would expand to more than ${limits.maxUncompressedBytes} bytes`);
      if (uncompressed > 1024 ** 2 && uncompressed / Math.max(1, compressed) > limits.maxRatio)
        throw bomb(`entry ${name} expands ${Math.round(uncompressed / Math.max(1, compressed))}x`);
      entries.push({ name, compressed, uncompressed });
      p += 46 + nameLen + extraLen + commentLen;
    }
    if (!entries.some((e) => e.name === "xl/workbook.xml")) throw broken("no xl/workbook.xml inside");
    return entries;
  } finally {
    await fh.close();
  }
}
