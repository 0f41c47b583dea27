import { open } from "node:fs/promises";
import { AppError, type FileFormat } from "@dsb/contracts";
import { looksLikeDelimitedText } from "./formats/csv/index.ts";

export const SNIFF_BYTES = 64 * 1024;

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0) => sig.every((x, i) => b[at + i] === x);
const ZIP = [0x50, 0x4b, 0x03, 0x04];
const PAR1 = [0x50, 0x41, 0x52, 0x31];

/** Well-known binary signatures, named in the 415 message so the user sees what we think they sent. */
const BINARY_SIGNATURES: readonly { name: string; sig: readonly number[] }[] = [
  { name: "PNG image", sig: [0x89, 0x50, 0x4e, 0x47] },
  { name: "JPEG image", sig: [0xff, 0xd8, 0xff] },
  { name: "GIF image", sig: [0x47, 0x49, 0x46, 0x38] },
  { name: "PDF document", sig: [0x25, 0x50, 0x44, 0x46] },
  { name: "gzip archive", sig: [0x1f, 0x8b] },
  { name: "legacy Excel (.xls) or other OLE document", sig: [0xd0, 0xcf, 0x11, 0xe0] },
  { name: "7z archive", sig: [0x37, 0x7a, 0xbc, 0xaf] },
  { name: "zip archive", sig: ZIP },
];

export const unsupported = (what: string) =>
  new AppError("UNSUPPORTED_FORMAT", `Unsupported file format: ${what}. Supported: CSV/TSV, XLSX, JSON, NDJSON, Parquet`);

export async function readHead(path: string, bytes = SNIFF_BYTES): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const extOf = (filename: string) => (/\.([a-z0-9]+)$/i.exec(filename)?.[1] ?? "").toLowerCase();

/** First line of text (without BOM), for the NDJSON test. */
function textHead(head: Uint8Array): string {
  const start = startsWith(head, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  return new TextDecoder("utf-8", { fatal: false }).decode(head.subarray(start));
}

function isJsonObjectLine(line: string): boolean {
  const t = line.trim();
  if (!t.startsWith("{") || !t.endsWith("}")) return false;
  try { const v = JSON.parse(t); return typeof v === "object" && v !== null && !Array.isArray(v); } catch { return false; }
}

/**
 * Decides a file's format from its bytes; the extension only breaks ties
 * (an NDJSON file whose first line is too long to see, an ambiguous text).
 */
export function detectFormat(head: Uint8Array, filename: string): FileFormat {
  const ext = extOf(filename);
  if (head.length === 0) throw new AppError("PARSE_FAILED", "The file is empty; upload a file with a header row and data");
  if (startsWith(head, PAR1)) return "parquet";
  if (startsWith(head, ZIP)) {
    // An xlsx is a zip whose entries live under xl/; the names sit in the local headers near the start.
    const names = new TextDecoder("latin1").decode(head);
    // A workbook whose first entries are not under xl/ is still trusted when it is named .xlsx (the reader verifies it).
    if (names.includes("xl/") || ext === "xlsx") return "xlsx";
    throw unsupported("a zip archive that is not an Excel workbook (.xlsx)");
  }
  for (const b of BINARY_SIGNATURES) if (startsWith(head, b.sig)) throw unsupported(`looks like a ${b.name}`);

  const text = textHead(head).replace(/^\s+/, "");
  if (text.startsWith("[")) return "json";
  if (text.startsWith("{")) {
    const nl = text.indexOf("\n");
    const first = nl >= 0 ? text.slice(0, nl) : text;
    // A complete object on the first line means one object per line, unless it is a .json file holding that one object;
    // an object spread over lines is plain JSON.
    if (isJsonObjectLine(first)) return ext === "json" && text.slice(first.length).trim() === "" ? "json" : "ndjson";
    if (nl < 0 && (ext === "ndjson" || ext === "jsonl")) return "ndjson";
    return ext === "ndjson" || ext === "jsonl" ? "ndjson" : "json";
  }
  if (looksLikeDelimitedText(head)) return "csv";
  // Text that is not clearly delimited but named like a table (a one-column CSV) is still read as CSV.
  if (["csv", "tsv", "txt", "tab", "psv"].includes(ext) && !hasBinaryBytes(head)) return "csv";
  throw unsupported(hasBinaryBytes(head) ? "binary content" : "text that is not delimited, JSON or NDJSON");
}

function hasBinaryBytes(head: Uint8Array): boolean {
  let ctrl = 0;
  const n = Math.min(head.length, 8192);
  for (let i = 0; i < n; i++) {
    const c = head[i]!;
    if (c === 0) return true;
    if (c < 9 || (c > 13 && c < 32)) ctrl++;
  }
  return ctrl > n / 100;
}
