/**
 * MySQL/MariaDB result metadata and values → API.md's value rules:
 * BIGINT (count(*) too) as a number within ±(2^53−1) and its text beyond
 * (mysql2's bigNumberStrings gives the text), DECIMAL as strings,
 * DATETIME/TIMESTAMP as ISO-8601, binary as base64.
 */
import type { FieldPacket } from "mysql2";
import { integerValue, type ColumnMeta } from "@dsb/contracts";

/** Column type codes of the protocol (mysql2/lib/constants/types.js). */
export const T = {
  DECIMAL: 0x00, TINY: 0x01, SHORT: 0x02, LONG: 0x03, FLOAT: 0x04, DOUBLE: 0x05, NULL: 0x06, TIMESTAMP: 0x07,
  LONGLONG: 0x08, INT24: 0x09, DATE: 0x0a, TIME: 0x0b, DATETIME: 0x0c, YEAR: 0x0d, NEWDATE: 0x0e, VARCHAR: 0x0f,
  BIT: 0x10, VECTOR: 0xf2, JSON: 0xf5, NEWDECIMAL: 0xf6, ENUM: 0xf7, SET: 0xf8, TINY_BLOB: 0xf9, MEDIUM_BLOB: 0xfa,
  LONG_BLOB: 0xfb, BLOB: 0xfc, VAR_STRING: 0xfd, STRING: 0xfe, GEOMETRY: 0xff,
} as const;

const BINARY_CHARSET = 63;
const UNSIGNED_FLAG = 32;

/** SQL-ish name for a result column, e.g. BIGINT UNSIGNED, VARBINARY, DATETIME. */
export function mysqlTypeName(f: FieldPacket): string {
  const binary = f.characterSet === BINARY_CHARSET;
  const unsigned = typeof f.flags === "number" && (f.flags & UNSIGNED_FLAG) !== 0 ? " UNSIGNED" : "";
  if (f.extendedFormat === "json") return "JSON";
  switch (f.columnType) {
    case T.DECIMAL: case T.NEWDECIMAL: return "DECIMAL" + unsigned;
    case T.TINY: return "TINYINT" + unsigned;
    case T.SHORT: return "SMALLINT" + unsigned;
    case T.INT24: return "MEDIUMINT" + unsigned;
    case T.LONG: return "INT" + unsigned;
    case T.LONGLONG: return "BIGINT" + unsigned;
    case T.FLOAT: return "FLOAT";
    case T.DOUBLE: return "DOUBLE";
    case T.NULL: return "NULL";
    case T.TIMESTAMP: return "TIMESTAMP";
    case T.DATE: case T.NEWDATE: return "DATE";
    case T.TIME: return "TIME";
    case T.DATETIME: return "DATETIME";
    case T.YEAR: return "YEAR";
    case T.BIT: return "BIT";
    case T.JSON: return "JSON";
    case T.ENUM: return "ENUM";
    case T.SET: return "SET";
    case T.GEOMETRY: return "GEOMETRY";
    case T.VECTOR: return "VECTOR";
    case T.TINY_BLOB: case T.MEDIUM_BLOB: case T.LONG_BLOB: case T.BLOB: return binary ? "BLOB" : "TEXT";
    case T.VAR_STRING: case T.VARCHAR: return binary ? "VARBINARY" : "VARCHAR";
    case T.STRING: return binary ? "BINARY" : "CHAR";
    default: return "UNKNOWN";
  }
}

export const mysqlColumns = (fields: readonly FieldPacket[]): ColumnMeta[] => fields.map((f) => ({ name: f.name, type: mysqlTypeName(f) }));

type Convert = (v: unknown) => unknown;

/** `2024-01-02 03:04:05.123` → `2024-01-02T03:04:05.123` (+ `Z` for TIMESTAMP, read in a UTC session). Zero dates stay as sent. */
export function isoDateTime(v: string, utc: boolean): string {
  if (v.length < 19 || v.startsWith("0000-00-00")) return v;
  return v.slice(0, 10) + "T" + v.slice(11) + (utc ? "Z" : "");
}

/** BIT(n) arrives as big-endian bytes: BIT(1) → boolean, wider → number (string beyond 2^53). */
export function bitValue(b: Buffer, width: number): boolean | number | string {
  let n = 0n;
  for (const byte of b) n = (n << 8n) | BigInt(byte);
  if (width === 1) return n === 1n;
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

const base64: Convert = (v) => (Buffer.isBuffer(v) ? v.toString("base64") : v);

/** One converter per column (null when the value passes as mysql2 returns it). */
export function mysqlConverters(fields: readonly FieldPacket[]): (Convert | null)[] {
  return fields.map((f): Convert | null => {
    switch (f.columnType) {
      case T.TIMESTAMP: return (v) => (typeof v === "string" ? isoDateTime(v, true) : v);
      case T.DATETIME: return (v) => (typeof v === "string" ? isoDateTime(v, false) : v);
      case T.LONGLONG: return (v) => (typeof v === "string" ? integerValue(v) : v);
      case T.BIT: return (v) => (Buffer.isBuffer(v) ? bitValue(v, f.columnLength ?? 64) : v);
      case T.GEOMETRY: return null;
      default:
        // Binary strings and blobs (charset 63) come as Buffers; JSON text never does.
        return f.characterSet === BINARY_CHARSET ? base64 : null;
    }
  });
}

/** Applies the converters in place (rows are fresh arrays from mysql2). */
export function convertRow(row: unknown[], conv: readonly (Convert | null)[]): unknown[] {
  for (let i = 0; i < conv.length; i++) {
    const c = conv[i];
    const v = row[i];
    if (c && v !== null && v !== undefined) row[i] = c(v);
  }
  return row;
}
