import { AppError } from "@dsb/contracts";
import { toArrow } from "../../dataset/write.ts";
import type { ColumnBuilder } from "../../dataset/columns.ts";
import type { ColumnType } from "../../dataset/table.ts";
import {
  T_BIGINT, T_BOOL, T_DATE_DMY, T_DATE_ISO, T_DATE_MDY, T_DECIMAL, T_DOUBLE, T_INT, T_TIME,
  T_TS_DMY, T_TS_ISO, T_TS_MDY, T_TSTZ, daysInMonth, slashDateParts, timeEnd, zoneOffset,
} from "./infer.ts";

/*
 * Conversion works on a field's UTF-8 bytes b[s..e), like inference: a value
 * converter gives the value types.ts prescribes (rows()), a byte converter
 * pushes the Arrow-native value into a builder (the dataset writer) and falls
 * back to the value converter for the shapes it has no fast path for.
 */

/** Turns the non-null field b[s..e) into the value types.ts prescribes for the column's type. */
export type Converter = (b: Buffer, s: number, e: number) => unknown;

const pad2 = (n: number): string => (n < 10 ? "0" + n : String(n));
const pad4 = (n: number): string => String(n).padStart(4, "0");
const text = (b: Buffer, s: number, e: number): string => b.toString("utf8", s, e);

/** A field without surrounding whitespace, as String.prototype.trim gives it (typed values only; inference ignores it the same way). */
type Field = { b: Buffer; s: number; e: number };
function clean(b: Buffer, s: number, e: number): Field {
  if (e > s && (b[s] === 32 || b[e - 1] === 32)) {
    const t = Buffer.from(text(b, s, e).trim());
    return { b: t, s: 0, e: t.length };
  }
  return { b, s, e };
}

function changed(f: Field): never {
  // Only reachable when the file changed between the inference pass and this one.
  throw new AppError("PARSE_FAILED", `The value "${text(f.b, f.s, f.e).slice(0, 40)}" does not match its column type; the file changed while it was read. Upload it again`);
}

/** "HH:MM:SS[.fff]" from the time at p, or null. */
function normTime(b: Buffer, p: number, e: number): { text: string; h: number; m: number; sec: number; frac: string } | null {
  const end = timeEnd(b, p, e);
  if (end < 0) return null;
  const colon = b[p + 1] === 58 ? p + 1 : p + 2;
  const h = bdigits(b, p, colon);
  const m = bdigits(b, colon + 1, colon + 3);
  let sec = 0;
  let frac = "";
  if (end > colon + 3) {
    sec = bdigits(b, colon + 4, colon + 6);
    frac = b.toString("latin1", colon + 6, end);
  }
  return { text: `${pad2(h)}:${pad2(m)}:${pad2(sec)}${frac}`, h, m, sec, frac };
}

function slashDate(f: Field, dayFirst: boolean): { date: string; end: number } {
  const parts = slashDateParts(f.b, f.s, f.e);
  if (parts === null) changed(f);
  const [a, b, y, end] = parts;
  const month = dayFirst ? b : a;
  const day = dayFirst ? a : b;
  return { date: `${pad4(y)}-${pad2(month)}-${pad2(day)}`, end };
}

/** The date, and the time after it at `end` + 1 (midnight when there is none). */
function timestamp(f: Field, date: string, end: number): string {
  if (end === f.e) return `${date}T00:00:00`;
  const t = normTime(f.b, end + 1, f.e);
  if (t === null) changed(f);
  return `${date}T${t.text}`;
}

function toUtc(f: Field): string {
  const { b, s, e } = f;
  const y = bdigits(b, s, s + 4);
  const mo = bdigits(b, s + 5, s + 7);
  const d = bdigits(b, s + 8, s + 10);
  const t = normTime(b, s + 11, e);
  const off = t === null ? Number.NaN : zoneOffset(b, timeEnd(b, s + 11, e), e);
  if (t === null || Number.isNaN(off)) changed(f);
  const dt = new Date(0);
  // setUTCFullYear keeps years below 100 literal (Date.UTC would map 50 to 1950).
  dt.setUTCFullYear(y, mo - 1, d);
  dt.setUTCHours(t.h, t.m - off, t.sec, 0);
  return `${pad4(dt.getUTCFullYear())}-${pad2(dt.getUTCMonth() + 1)}-${pad2(dt.getUTCDate())}T${pad2(dt.getUTCHours())}:${pad2(dt.getUTCMinutes())}:${pad2(dt.getUTCSeconds())}${t.frac}Z`;
}

function toDouble(f: Field): number {
  const s = f.b.toString("latin1", f.s, f.e);
  const n = Number(s);
  if (!Number.isNaN(n)) return n;
  const l = s.toLowerCase();
  const c = l.charCodeAt(0);
  const core = c === 43 || c === 45 ? l.slice(1) : l;
  if (core === "nan") return Number.NaN;
  if (core === "inf" || core === "infinity") return c === 45 ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return changed(f);
}

function toDecimal(f: Field): string {
  let t = f.b.toString("latin1", f.b[f.s] === 43 ? f.s + 1 : f.s, f.e);
  if (t.charCodeAt(0) === 46) t = "0" + t;
  else if (t.charCodeAt(0) === 45 && t.charCodeAt(1) === 46) t = "-0" + t.slice(1);
  return t;
}

/** The value converter for a format bit of infer.ts (0 = string). */
export function converterFor(format: number): Converter {
  switch (format) {
    case T_BOOL: return (b, s, e) => { const f = clean(b, s, e); return (f.b[f.s]! | 32) === 116; };
    case T_INT: return (b, s, e) => { const f = clean(b, s, e); return Number(f.b.toString("latin1", f.s, f.e)); };
    case T_BIGINT: return (b, s, e) => { const f = clean(b, s, e); return BigInt(f.b.toString("latin1", f.s, f.e)); };
    case T_DOUBLE: return (b, s, e) => toDouble(clean(b, s, e));
    case T_DECIMAL: return (b, s, e) => toDecimal(clean(b, s, e));
    case T_DATE_ISO: return (b, s, e) => { const f = clean(b, s, e); return f.b.toString("latin1", f.s, f.e); };
    case T_DATE_MDY: return (b, s, e) => slashDate(clean(b, s, e), false).date;
    case T_DATE_DMY: return (b, s, e) => slashDate(clean(b, s, e), true).date;
    case T_TS_ISO: return (b, s, e) => {
      const f = clean(b, s, e);
      const iso = f.b.toString("latin1", f.s, f.e);
      // Fast path for the common "YYYY-MM-DD HH:MM:SS" / "...T..." shapes (already validated by inference).
      if (iso.length === 19 && iso.charCodeAt(13) === 58 && iso.charCodeAt(16) === 58) {
        return iso.charCodeAt(10) === 84 ? iso : iso.slice(0, 10) + "T" + iso.slice(11);
      }
      return timestamp(f, iso.slice(0, 10), f.s + 10);
    };
    case T_TS_MDY: return (b, s, e) => { const f = clean(b, s, e); const d = slashDate(f, false); return timestamp(f, d.date, d.end); };
    case T_TS_DMY: return (b, s, e) => { const f = clean(b, s, e); const d = slashDate(f, true); return timestamp(f, d.date, d.end); };
    case T_TSTZ: return (b, s, e) => toUtc(clean(b, s, e));
    case T_TIME: return (b, s, e) => { const f = clean(b, s, e); const t = normTime(f.b, f.s, f.e); return t === null ? changed(f) : t.text; };
    default: return text;
  }
}

const DAY_MS = 86_400_000;

/** Pushes the non-null field b[s..e) (UTF-8) of a column into its builder. */
export type ByteConverter = (b: Buffer, s: number, e: number, out: ColumnBuilder) => void;

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * [+-]digits[.digits] with at most 15 digits in all, as a number; NaN for
 * anything else. Below 2^53 the digits are an exact integer and 10^k (k ≤ 22)
 * an exact double, so one division is correctly rounded: the same double as Number(text).
 */
function plainNumber(b: Buffer, s: number, e: number): number {
  let i = s;
  const c0 = b[i]!;
  if (c0 === 45 || c0 === 43) i++;
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (; i < e; i++) {
    const c = b[i]!;
    const d = c - 48;
    if (d >= 0 && d <= 9) { m = m * 10 + d; digits++; continue; }
    if (c === 46 && frac < 0) { frac = i; continue; }
    return Number.NaN;
  }
  if (digits === 0 || digits > 15) return Number.NaN;
  const v = frac < 0 ? m : m / POW10[e - frac - 1]!;
  return c0 === 45 ? -v : v;
}

/*
 * Classify-and-convert in one scan for the commonest values, used while the
 * single pass checks its guess: a value of exactly these shapes is what
 * classifyNumber/classifyTemporal give the stated class for (no spaces, no
 * leading zeros, few enough digits, a valid date), so the caller may skip
 * classifyBytes and the byte converter. Each pushes the value into `out` and
 * returns true, or returns false for any other shape (take the general path);
 * pushing here rather than returning a double keeps the value unboxed.
 */

/** classifyNumber of a value smallInt accepts. */
export const SMALL_INT_CLASS = T_INT | T_BIGINT | T_DOUBLE | T_DECIMAL;

/** [+-]?(0|[1-9][0-9]{0,8}) into a 32-bit integer column. */
export function smallInt(b: Buffer, s: number, e: number, out: ColumnBuilder): boolean {
  let i = s;
  const c0 = b[s]!;
  if (c0 === 45 || c0 === 43) i++;
  const n = e - i;
  if (n < 1 || n > 9 || (b[i] === 48 && n > 1)) return false;
  let v = 0;
  for (; i < e; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  out.pushI32(c0 === 45 ? -v : v);
  return true;
}

/** classifyNumber of a value shortDecimal accepts. */
export const SHORT_DECIMAL_CLASS = T_DOUBLE | T_DECIMAL;

/** [+-]?(0|[1-9][0-9]*)\.[0-9]+ with at most 15 digits in all, as plainNumber reads it, into a double column. */
export function shortDecimal(b: Buffer, s: number, e: number, out: ColumnBuilder): boolean {
  let i = s;
  const c0 = b[s]!;
  if (c0 === 45 || c0 === 43) i++;
  const intStart = i;
  let m = 0;
  for (; i < e; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) break;
    m = m * 10 + d;
  }
  const intDigits = i - intStart;
  if (intDigits === 0 || (intDigits > 1 && b[intStart] === 48) || i >= e - 1 || b[i] !== 46) return false;
  const f = ++i;
  for (; i < e; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) return false;
    m = m * 10 + d;
  }
  if (intDigits + (e - f) > 15) return false;
  const v = m / POW10[e - f]!;
  out.pushF64(c0 === 45 ? -v : v);
  return true;
}

/** classifyTemporal of a value isoDay accepts. */
export const ISO_DATE_CLASS = T_DATE_ISO | T_TS_ISO;

/** A valid YYYY-MM-DD from year 100 on into a date column (days since epoch). */
export function isoDay(b: Buffer, s: number, e: number, out: ColumnBuilder): boolean {
  if (e - s !== 10 || b[s + 4] !== 45 || b[s + 7] !== 45) return false;
  const y = d2(b, s) * 100 + d2(b, s + 2);
  const mo = d2(b, s + 5);
  const d = d2(b, s + 8);
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return false;
  out.pushI32(dayNumber(y, mo, d));
  return true;
}

/** classifyTemporal of a value isoSeconds accepts. */
export const ISO_TS_CLASS = T_TS_ISO;

/** A valid "YYYY-MM-DD HH:MM:SS" (or T/t between) from year 100 on into a timestamp column (epoch ms). */
export function isoSeconds(b: Buffer, s: number, e: number, out: ColumnBuilder): boolean {
  if (e - s !== 19 || b[s + 4] !== 45 || b[s + 7] !== 45 || b[s + 13] !== 58 || b[s + 16] !== 58) return false;
  const sep = b[s + 10];
  if (sep !== 32 && sep !== 84 && sep !== 116) return false;
  const y = d2(b, s) * 100 + d2(b, s + 2);
  const mo = d2(b, s + 5);
  const d = d2(b, s + 8);
  const h = d2(b, s + 11);
  const mi = d2(b, s + 14);
  const sec = d2(b, s + 17);
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return false;
  out.pushI64(dayNumber(y, mo, d) * DAY_MS + ((h * 60 + mi) * 60 + sec) * 1000);
  return true;
}

/** classifyBytes of a value boolWord accepts, within any allowed set (the intersection is m & BOOL_CLASS). */
export const BOOL_CLASS = T_BOOL;

/** t, f, true or false in any case (classifyWord's booleans, no spaces) into a boolean column. */
export function boolWord(b: Buffer, s: number, e: number, out: ColumnBuilder): boolean {
  const c = b[s]! | 32;
  switch (e - s) {
    case 1:
      if (c !== 116 && c !== 102) return false;
      break;
    case 4:
      if (c !== 116 || (b[s + 1]! | 32) !== 114 || (b[s + 2]! | 32) !== 117 || (b[s + 3]! | 32) !== 101) return false;
      break;
    case 5:
      if (c !== 102 || (b[s + 1]! | 32) !== 97 || (b[s + 2]! | 32) !== 108 || (b[s + 3]! | 32) !== 115 || (b[s + 4]! | 32) !== 101) return false;
      break;
    default:
      return false;
  }
  out.pushBool(c === 116);
  return true;
}

/** Two digits at p as a number; a large negative number when either is not a digit. */
const d2 = (b: Buffer, p: number): number => {
  const x = b[p]! - 48;
  const y = b[p + 1]! - 48;
  return x < 0 || x > 9 || y < 0 || y > 9 ? -100_000 : x * 10 + y;
};

/**
 * The byte converter of a column: text columns copy the bytes, and the common
 * shapes of numbers, ISO dates and "YYYY-MM-DD HH:MM:SS" timestamps are read
 * without a string. Anything else (surrounding spaces, exponents, other
 * layouts) goes through the value converter, so values are the same either way.
 */
export function byteConverterFor(format: number, type: ColumnType): ByteConverter {
  const value = converterFor(format);
  const slow: ByteConverter = (b, s, e, out) => out.push(toArrow(value(b, s, e), type));
  switch (format) {
    case 0: return (b, s, e, out) => out.pushUtf8(b, s, e);
    // The typed pushes below match the column type formatToType gives each format.
    // Values of the T_INT format fit 32 bits: its builders are int32 ones (int32Columns).
    case T_INT: return (b, s, e, out) => {
      const v = plainNumber(b, s, e);
      if (v === v) out.pushI32(v);
      else slow(b, s, e, out);
    };
    case T_DOUBLE: return (b, s, e, out) => {
      const v = plainNumber(b, s, e);
      if (v === v) out.pushF64(v);
      else slow(b, s, e, out);
    };
    case T_BIGINT: return (b, s, e, out) => {
      const v = e - s <= 15 ? plainNumber(b, s, e) : Number.NaN;
      if (v === v && Number.isInteger(v)) out.pushI64(v);
      else slow(b, s, e, out);
    };
    case T_BOOL: return (b, s, e, out) => {
      if (b[s] === 32) slow(b, s, e, out);
      else out.pushBool((b[s]! | 32) === 116);
    };
    case T_DATE_ISO: return (b, s, e, out) => {
      const y = e - s === 10 ? bdigits(b, s, s + 4) : 0;
      // Years below 100 go the slow way: Date.UTC would map them to 19xx.
      if (y >= 100) out.pushI32(dayNumber(y, bdigits(b, s + 5, s + 7), bdigits(b, s + 8, s + 10)));
      else slow(b, s, e, out);
    };
    case T_TS_ISO: return (b, s, e, out) => {
      const y = e - s === 19 && b[s + 13] === 58 && b[s + 16] === 58 ? bdigits(b, s, s + 4) : 0;
      if (y >= 100) {
        const day = dayNumber(y, bdigits(b, s + 5, s + 7), bdigits(b, s + 8, s + 10));
        out.pushI64(day * DAY_MS + ((bdigits(b, s + 11, s + 13) * 60 + bdigits(b, s + 14, s + 16)) * 60 + bdigits(b, s + 17, s + 19)) * 1000);
      } else slow(b, s, e, out);
    };
    default: return slow;
  }
}

/** Which columns get 32-bit integer builders: those of the T_INT format (classifyNumber only allows it for values that fit). */
export const int32Columns = (formats: readonly number[]): boolean[] => formats.map((f) => f === T_INT);

/**
 * Days since 1970-01-01 of a valid proleptic Gregorian date (year ≥ 0), as
 * Date.UTC(y, m - 1, d) / 86 400 000 gives it, by integer arithmetic
 * (H. Hinnant's days_from_civil) instead of a Date call per value.
 */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The last date dayNumber was asked for: runs of one day (sorted dates, a timestamp next to its date) skip the arithmetic. */
let lastY = -1;
let lastM = 0;
let lastD = 0;
let lastDays = 0;

/** daysFromCivil, remembering the last date. */
function dayNumber(y: number, m: number, d: number): number {
  if (y !== lastY || m !== lastM || d !== lastD) {
    lastDays = daysFromCivil(y, m, d);
    lastY = y;
    lastM = m;
    lastD = d;
  }
  return lastDays;
}

const bdigits = (b: Buffer, a: number, z: number): number => {
  let n = 0;
  for (let i = a; i < z; i++) n = n * 10 + (b[i]! - 48);
  return n;
};
