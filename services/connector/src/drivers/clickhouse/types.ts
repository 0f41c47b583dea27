/**
 * ClickHouse results are read as TabSeparatedWithNamesAndTypes: a format every
 * server version has (18.16 lacks JSONCompactEachRow), streamable line by line,
 * with the column types in the header. Values are text; this file turns them
 * into API.md's values: 64-bit-and-wider integers are numbers within
 * ±(2^53−1) and text beyond, decimals stay strings,
 * DateTime becomes ISO-8601 UTC, `\N` is null.
 */
import { integerValue, type ColumnMeta } from "@dsb/contracts";

const ESCAPES: Readonly<Record<string, string>> = { t: "\t", n: "\n", r: "\r", b: "\b", f: "\f", "0": "\0", "\\": "\\", "'": "'", '"': '"', a: "\x07", v: "\v", "/": "/" };

/** Undoes TSV escaping of one field (`\t`, `\n`, `\\`, `\'`, ...). */
export function unescapeTsv(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(/\\(.)/gs, (_, c: string) => ESCAPES[c] ?? c);
}

/** Splits one TSV line into raw (still escaped) fields; escaped tabs are `\t`, so a plain split is right. */
export const splitTsv = (line: string): string[] => line.split("\t");

/** `Nullable(X)`, `LowCardinality(X)` → X (repeatedly). */
export function innerType(t: string): string {
  let s = t.trim();
  for (;;) {
    const m = /^(?:Nullable|LowCardinality)\((.*)\)$/s.exec(s);
    if (!m) return s;
    s = m[1]!.trim();
  }
}

export const isNullableType = (t: string): boolean => /^(LowCardinality\()?Nullable\(/.test(t.trim());

const SMALL_NUMBER = /^(U?Int(8|16|32)|Float(32|64))$/;
const WIDE_INTEGER = /^U?Int(64|128|256)$/;
const DATETIME = /^DateTime(64)?(\((.*)\))?$/;

/** The time zone inside `DateTime('Asia/Tokyo')` or `DateTime64(3, 'UTC')`, if any. */
export function dateTimeZone(t: string): string | null {
  const m = DATETIME.exec(innerType(t));
  if (!m || !m[3]) return null;
  const tz = /'([^']+)'/.exec(m[3]);
  return tz ? tz[1]! : null;
}

const UTC_NAMES = new Set(["UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal"]);
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of `tz` from UTC at instant `ms`, in ms. */
function tzOffset(ms: number, tz: string): number {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    formatters.set(tz, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(ms))) if (part.type !== "literal") p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * `2024-01-02 03:04:05[.fff]` read on a server (or column) in time zone `tz`
 * → `2024-01-02T03:04:05[.fff]Z`. Unknown zones and odd text come back unchanged.
 */
export function wallClockToIso(v: string, tz: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?$/.exec(v);
  if (!m) return v;
  const frac = m[7] ?? "";
  if (UTC_NAMES.has(tz)) return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${frac}Z`;
  const wall = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  try {
    // Two passes settle DST edges: the offset at the guess, then at the corrected instant.
    let utc = wall - tzOffset(wall, tz);
    utc = wall - tzOffset(utc, tz);
    return new Date(utc).toISOString().slice(0, 19) + frac + "Z";
  } catch {
    return v;
  }
}

type Convert = (raw: string) => unknown;

/** A converter from escaped TSV text to the API value, per ClickHouse type. */
export function clickhouseConverter(type: string, serverTz: string): Convert {
  const t = innerType(type);
  if (SMALL_NUMBER.test(t)) {
    return (raw) => {
      const n = Number(raw);
      // nan / inf have no JSON number: keep ClickHouse's text.
      return Number.isFinite(n) ? n : raw;
    };
  }
  if (WIDE_INTEGER.test(t)) return integerValue;
  if (t === "Bool" || t === "Boolean") return (raw) => raw === "true" || raw === "1";
  const dt = DATETIME.exec(t);
  if (dt) {
    const tz = dateTimeZone(t) ?? serverTz;
    return (raw) => wallClockToIso(raw, tz);
  }
  // Decimal, Date, String, UUID, Enum, IPs, Array, Tuple, Map...: the text itself.
  return (raw) => unescapeTsv(raw);
}

/** Column metadata plus one converter per column, from the two header lines. */
export function clickhouseHeader(namesLine: string, typesLine: string, serverTz: string): { columns: ColumnMeta[]; convert: Convert[] } {
  const names = splitTsv(namesLine).map(unescapeTsv);
  const types = splitTsv(typesLine).map(unescapeTsv);
  return {
    columns: names.map((name, i) => ({ name, type: types[i] ?? "String" })),
    convert: types.map((t) => clickhouseConverter(t, serverTz)),
  };
}

/** One data line → values; `\N` is NULL in every type's TSV text. */
export function clickhouseRow(line: string, convert: readonly Convert[]): unknown[] {
  const raw = splitTsv(line);
  const out = new Array<unknown>(convert.length);
  for (let i = 0; i < convert.length; i++) {
    const r = raw[i];
    out[i] = r === undefined || r === "\\N" ? null : convert[i]!(r);
  }
  return out;
}

/**
 * When a query fails after the server started answering (HTTP 200 already
 * sent), ClickHouse appends the exception text to the body. Such a line is
 * recognised by its shape and a field count that does not fit the header.
 */
export function trailingException(line: string, columnCount: number): string | null {
  if (!/^Code: \d+[.,] /.test(line)) return null;
  if (columnCount > 1 && splitTsv(line).length === columnCount) return null;
  return line;
}
