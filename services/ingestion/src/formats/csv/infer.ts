import type { ColumnType } from "../../dataset/table.ts";

/*
 * Type inference as bit sets: each value yields the set of representations it
 * fits, a column keeps the intersection over all its values, and the column
 * type is the first remaining bit in PREFERENCE order. An empty set is string.
 * This gives the widening rules for free: "12" fits int|bigint|double|decimal,
 * "1.5" fits double|decimal, so together they are double; a date fits
 * date|timestamp, so with a timestamp the column is timestamp.
 */
export const T_BOOL = 1;
export const T_INT = 2;
export const T_BIGINT = 4;
export const T_DOUBLE = 8;
export const T_DECIMAL = 16;
export const T_DATE_ISO = 32;
export const T_DATE_MDY = 64;
export const T_DATE_DMY = 128;
export const T_TS_ISO = 256;
export const T_TS_MDY = 512;
export const T_TS_DMY = 1024;
export const T_TSTZ = 2048;
export const T_TIME = 4096;
export const T_ALL = 8191;

export const NUMERIC = T_INT | T_BIGINT | T_DOUBLE | T_DECIMAL;
const TEMPORAL = T_DATE_ISO | T_DATE_MDY | T_DATE_DMY | T_TS_ISO | T_TS_MDY | T_TS_DMY | T_TSTZ | T_TIME;

/**
 * Narrowest first. MM/DD/YYYY comes before DD/MM/YYYY: a column where every
 * value is ambiguous (both parts ≤ 12) is read month-first, as DuckDB does.
 */
export const PREFERENCE = [
  T_BOOL, T_INT, T_BIGINT, T_DOUBLE, T_DECIMAL,
  T_DATE_ISO, T_DATE_MDY, T_DATE_DMY, T_TS_ISO, T_TS_MDY, T_TS_DMY, T_TSTZ, T_TIME,
] as const;

/** The chosen representation of a column; 0 means string. */
export function pickFormat(mask: number): number {
  for (const bit of PREFERENCE) if ((mask & bit) !== 0) return bit;
  return 0;
}

export function formatToType(format: number): ColumnType {
  switch (format) {
    case T_BOOL: return "boolean";
    case T_INT: return "integer";
    case T_BIGINT: return "bigint";
    case T_DOUBLE: return "double";
    case T_DECIMAL: return "decimal";
    case T_DATE_ISO: case T_DATE_MDY: case T_DATE_DMY: return "date";
    case T_TS_ISO: case T_TS_MDY: case T_TS_DMY: return "timestamp";
    case T_TSTZ: return "timestamptz";
    case T_TIME: return "time";
    default: return "string";
  }
}

/** Null markers: empty, NULL, null, NA, N/A, n/a, None. */
export function isNullMarker(s: string): boolean {
  // Character tests first: most fields are longer or start differently, and this runs per field.
  switch (s.length) {
    case 0: return true;
    case 2: return s.charCodeAt(0) === 78 && s.charCodeAt(1) === 65; // NA
    case 3: { const c = s.charCodeAt(1); return c === 47 && (s === "N/A" || s === "n/a"); }
    case 4: { const c = s.charCodeAt(0); return (c === 78 || c === 110) && (s === "NULL" || s === "null" || s === "None"); }
    default: return false;
  }
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** "/", "-" or "." between the parts of D/M/YYYY dates. */
const isDateSep = (c: number): boolean => c === 47 || c === 45 || c === 46;

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/*
 * Classification works on the UTF-8 bytes of a field (b[s..e)), so the reader
 * never builds a string for a typed value. Reads past `e` go through `at`,
 * since the bytes after a field belong to the next one.
 */
const at = (b: Uint8Array, p: number, e: number): number => (p < e ? b[p]! : -1);

function d2(b: Uint8Array, p: number, e: number): number {
  if (p + 1 >= e) return -1;
  const x = b[p]! - 48;
  const y = b[p + 1]! - 48;
  if (x < 0 || x > 9 || y < 0 || y > 9) return -1;
  return x * 10 + y;
}

function d4(b: Uint8Array, p: number, e: number): number {
  const x = d2(b, p, e);
  const y = d2(b, p + 2, e);
  return x < 0 || y < 0 ? -1 : x * 100 + y;
}

/** The end index of H:MM or HH:MM, optional :SS, optional .fraction (1–9 digits) at p, or -1. */
export function timeEnd(b: Uint8Array, p: number, e: number): number {
  let h: number;
  let i: number;
  if (p + 1 < e && b[p + 1] === 58) {
    h = b[p]! - 48;
    if (h < 0 || h > 9) return -1;
    i = p + 2;
  } else {
    h = d2(b, p, e);
    if (h < 0 || at(b, p + 2, e) !== 58) return -1;
    i = p + 3;
  }
  if (h > 23) return -1;
  const m = d2(b, i, e);
  if (m < 0 || m > 59) return -1;
  i += 2;
  if (i < e && b[i] === 58) {
    const sec = d2(b, i + 1, e);
    if (sec < 0 || sec > 59) return -1;
    i += 3;
    if (i < e && b[i] === 46) {
      const f = ++i;
      while (i < e && isDigit(b[i]!)) i++;
      if (i === f || i - f > 9) return -1;
    }
  }
  return i;
}

/** The offset suffix b[p..e) in minutes (Z, ±HH, ±HHMM, ±HH:MM, optionally after one space), or NaN. */
export function zoneOffset(b: Uint8Array, p: number, e: number): number {
  if (p < e && b[p] === 32) p++;
  if (p >= e) return Number.NaN;
  const c = b[p]!;
  if (c === 90 || c === 122) return p + 1 === e ? 0 : Number.NaN;
  if (c !== 43 && c !== 45) return Number.NaN;
  const h = d2(b, p + 1, e);
  if (h < 0 || h > 18) return Number.NaN;
  let m = 0;
  let x = p + 3;
  if (x < e) {
    if (b[x] === 58) x++;
    m = d2(b, x, e);
    if (m < 0 || m > 59) return Number.NaN;
    x += 2;
  }
  if (x !== e) return Number.NaN;
  const off = h * 60 + m;
  return c === 45 ? -off : off;
}

/** A D/M/YYYY-style date at the start of b[s..e): [first, second, year, end index] or null. */
export function slashDateParts(b: Uint8Array, s: number, e: number): [number, number, number, number] | null {
  let a = at(b, s, e) - 48;
  if (a < 0 || a > 9) return null;
  let i = s + 1;
  let c = at(b, i, e);
  if (isDigit(c)) { a = a * 10 + c - 48; i++; c = at(b, i, e); }
  if (c !== 47 && c !== 45 && c !== 46) return null;
  const sep = c;
  i++;
  let m = at(b, i, e) - 48;
  if (m < 0 || m > 9) return null;
  i++;
  c = at(b, i, e);
  if (isDigit(c)) { m = m * 10 + c - 48; i++; c = at(b, i, e); }
  if (c !== sep) return null;
  const y = d4(b, i + 1, e);
  if (y < 0) return null;
  return [a, m, y, i + 5];
}

function classifyTemporal(b: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if (len >= 10 && b[s + 4] === 45 && b[s + 7] === 45) {
    const y = d4(b, s, e);
    const mo = d2(b, s + 5, e);
    const d = d2(b, s + 8, e);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return 0;
    if (len === 10) return T_DATE_ISO | T_TS_ISO;
    const sep = b[s + 10];
    if (sep !== 84 && sep !== 32 && sep !== 116) return 0;
    const t = timeEnd(b, s + 11, e);
    if (t < 0) return 0;
    if (t === e) return T_TS_ISO;
    return Number.isNaN(zoneOffset(b, t, e)) ? 0 : T_TSTZ;
  }
  const c1 = at(b, s + 1, e);
  if (c1 === 58 || at(b, s + 2, e) === 58) return timeEnd(b, s, e) === e ? T_TIME : 0;
  const c2 = at(b, s + 2, e);
  if (isDateSep(c1) || (isDigit(c1) && isDateSep(c2))) {
    const parts = slashDateParts(b, s, e);
    if (parts === null) return 0;
    const [x, y2, y, end] = parts;
    let dateOnly: boolean;
    if (end === e) dateOnly = true;
    else if (at(b, end, e) === 32 && timeEnd(b, end + 1, e) === e) dateOnly = false;
    else return 0;
    let m = 0;
    if (x >= 1 && x <= 12 && y2 >= 1 && y2 <= daysInMonth(y, x)) m |= dateOnly ? T_DATE_MDY | T_TS_MDY : T_TS_MDY;
    if (y2 >= 1 && y2 <= 12 && x >= 1 && x <= daysInMonth(y, y2)) m |= dateOnly ? T_DATE_DMY | T_TS_DMY : T_TS_DMY;
    return m;
  }
  return 0;
}

const INT32_MAX = "2147483647";
const INT32_MIN_ABS = "2147483648";
const INT64_MAX = "9223372036854775807";
const INT64_MIN_ABS = "9223372036854775808";

/** Whether the digits at b[p..p+limit.length) are ≤ `limit` (same length, so the text order is the numeric one). */
function digitsAtMost(b: Uint8Array, p: number, limit: string): boolean {
  for (let k = 0; k < limit.length; k++) {
    const d = b[p + k]! - limit.charCodeAt(k);
    if (d !== 0) return d < 0;
  }
  return true;
}

function classifyNumber(b: Uint8Array, s: number, e: number): number {
  const len = e - s;
  let i = s;
  const c0 = b[s]!;
  const negative = c0 === 45;
  if (negative || c0 === 43) {
    i = s + 1;
    if (len === 1) return 0;
    const c1 = b[s + 1]!;
    if (!isDigit(c1) && c1 !== 46) return isSpecialDouble(b, s + 1, e) ? T_DOUBLE : 0;
  }
  const intStart = i;
  while (i < e && isDigit(b[i]!)) i++;
  const intDigits = i - intStart;
  // Leading zeros ("007", "01234") are identifiers such as zip codes: keep them as text.
  if (intDigits > 1 && b[intStart] === 48) return 0;
  if (i === e) {
    if (intDigits === 0) return 0;
    if (intDigits <= 9) return T_INT | T_BIGINT | T_DOUBLE | T_DECIMAL;
    if (intDigits === 10) {
      const fitsInt = digitsAtMost(b, intStart, negative ? INT32_MIN_ABS : INT32_MAX);
      return (fitsInt ? T_INT : 0) | T_BIGINT | T_DOUBLE | T_DECIMAL;
    }
    if (intDigits <= 15) return T_BIGINT | T_DOUBLE | T_DECIMAL;
    if (intDigits <= 18) return T_BIGINT | T_DECIMAL;
    if (intDigits === 19 && digitsAtMost(b, intStart, negative ? INT64_MIN_ABS : INT64_MAX)) return T_BIGINT | T_DECIMAL;
    return T_DECIMAL;
  }
  let fracDigits = 0;
  let c = b[i]!;
  if (c === 46) {
    const f = ++i;
    while (i < e && isDigit(b[i]!)) i++;
    fracDigits = i - f;
    if (i === e) {
      if (intDigits === 0 && fracDigits === 0) return 0;
      if (fracDigits === 0) return T_DOUBLE; // "5." is a float literal, not a decimal
      const sig = significantDigits(b, intStart, e);
      // Up to 15 digits always survive a double; 16–17 only when the text is the double's own shortest form.
      if (sig <= 15 || (sig <= 17 && roundTrips(b, s, e))) return T_DOUBLE | T_DECIMAL;
      return T_DECIMAL;
    }
    c = b[i]!;
  }
  if (intDigits + fracDigits === 0) return 0;
  if (c === 101 || c === 69) {
    i++;
    const sc = at(b, i, e);
    if (sc === 43 || sc === 45) i++;
    const x = i;
    while (i < e && isDigit(b[i]!)) i++;
    if (i === x || i !== e) return 0;
    return T_DOUBLE;
  }
  return 0;
}

function roundTrips(b: Uint8Array, s: number, e: number): boolean {
  const t = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1", b[s] === 43 ? s + 1 : s, e);
  return String(Number(t)) === t;
}

/** Digits of a plain decimal without leading zeros (so "0.000123" has 3). */
function significantDigits(b: Uint8Array, start: number, end: number): number {
  let count = 0;
  let leading = true;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 46) continue;
    if (leading && c === 48) continue;
    leading = false;
    count++;
  }
  return count;
}

/** Case-insensitive ASCII comparison of b[p..e) with a lower-case word. */
function isWord(b: Uint8Array, p: number, e: number, word: string): boolean {
  if (e - p !== word.length) return false;
  // `| 32` maps exactly the upper- and lower-case letter onto the lower-case one.
  for (let k = 0; k < word.length; k++) if ((b[p + k]! | 32) !== word.charCodeAt(k)) return false;
  return true;
}

function isSpecialDouble(b: Uint8Array, p: number, e: number): boolean {
  return isWord(b, p, e, "nan") || isWord(b, p, e, "inf") || isWord(b, p, e, "infinity");
}

function classifyWord(b: Uint8Array, s: number, e: number, allowed: number): number {
  const len = e - s;
  if ((allowed & T_BOOL) !== 0 && len <= 5) {
    const c = b[s]! | 32;
    if (len === 1 && (c === 116 || c === 102)) return T_BOOL;
    if (len === 4 && c === 116 && isWord(b, s, e, "true")) return T_BOOL;
    if (len === 5 && c === 102 && isWord(b, s, e, "false")) return T_BOOL;
  }
  if ((allowed & T_DOUBLE) !== 0 && isSpecialDouble(b, s, e)) return T_DOUBLE;
  return 0;
}

function classifyTrimmed(b: Uint8Array, s: number, e: number, allowed: number): number {
  if (e <= s) return 0;
  const c0 = b[s]!;
  if (c0 >= 48 && c0 <= 57) {
    if ((allowed & TEMPORAL) !== 0 && e - s >= 4) {
      const m = classifyTemporal(b, s, e);
      if (m !== 0) return m;
    }
    return (allowed & NUMERIC) !== 0 ? classifyNumber(b, s, e) : 0;
  }
  if (c0 === 45 || c0 === 43 || c0 === 46) return (allowed & NUMERIC) !== 0 ? classifyNumber(b, s, e) : 0;
  return classifyWord(b, s, e, allowed);
}

/**
 * The set of representations the non-null field b[s..e) (UTF-8) fits,
 * restricted to the families still present in `allowed` (the caller
 * intersects). Surrounding whitespace is ignored for typed values when the
 * field starts or ends with a space (as String.prototype.trim does).
 */
export function classifyBytes(b: Uint8Array, s: number, e: number, allowed: number): number {
  if (e > s && (b[s] === 32 || b[e - 1] === 32)) {
    const t = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8", s, e).trim();
    const tb = Buffer.from(t);
    return classifyTrimmed(tb, 0, tb.length, allowed);
  }
  return classifyTrimmed(b, s, e, allowed);
}

/** classifyBytes of a string value (header cells). */
export function classify(raw: string, allowed: number): number {
  const b = Buffer.from(raw);
  return classifyBytes(b, 0, b.length, allowed);
}

/** isNullMarker over the bytes b[s..e). */
export function isNullBytes(b: Uint8Array, s: number, e: number): boolean {
  switch (e - s) {
    case 0: return true;
    case 2: return b[s] === 78 && b[s + 1] === 65; // NA
    case 3: return b[s + 1] === 47 && ((b[s] === 78 && b[s + 2] === 65) || (b[s] === 110 && b[s + 2] === 97)); // N/A n/a
    case 4: {
      const c = b[s]!;
      if (c === 78) return (b[s + 1] === 85 && b[s + 2] === 76 && b[s + 3] === 76) || (b[s + 1] === 111 && b[s + 2] === 110 && b[s + 3] === 101); // NULL None
      return c === 110 && b[s + 1] === 117 && b[s + 2] === 108 && b[s + 3] === 108; // null
    }
    default: return false;
  }
}
