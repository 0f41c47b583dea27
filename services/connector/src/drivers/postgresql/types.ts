import pg from "pg";
import { parse as parseArray } from "postgres-array";
import { integerValue } from "@dsb/contracts";

/**
 * Value mapping of API.md for the pg wire protocol: int8 as a number when it
 * fits ±(2^53−1) (its text beyond), numeric/money as strings, dates and timestamps as ISO-8601 strings, bytea as base64, json
 * parsed. Given to each pool (`types`), never installed globally, so other
 * pg users in the process (the catalog) keep pg's defaults.
 */

type Parser = (raw: string) => unknown;

const OID = {
  bool: 16, bytea: 17, char: 18, name: 19, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114, xml: 142,
  float4: 700, float8: 701, money: 790, bpchar: 1042, varchar: 1043, date: 1082, time: 1083, timestamp: 1114,
  timestamptz: 1184, interval: 1186, timetz: 1266, bit: 1560, varbit: 1562, numeric: 1700, uuid: 2950, jsonb: 3802,
  inet: 869, cidr: 650, macaddr: 829,
} as const;

/** Names of common type oids for result column metadata. */
export const TYPE_NAMES: Readonly<Record<number, string>> = {
  ...Object.fromEntries(Object.entries(OID).map(([k, v]) => [v, k])),
  1000: "_bool", 1001: "_bytea", 1005: "_int2", 1007: "_int4", 1016: "_int8", 1009: "_text", 1015: "_varchar", 1021: "_float4",
  1022: "_float8", 1231: "_numeric", 1115: "_timestamp", 1182: "_date", 1185: "_timestamptz", 199: "_json", 3807: "_jsonb",
  2951: "_uuid", 791: "_money", 1014: "_bpchar", 1183: "_time", 1270: "_timetz", 1187: "_interval",
};

const identity: Parser = (s) => s;

/** "2024-01-02 03:04:05.123" → "2024-01-02T03:04:05.123" (no zone: the column has none). */
export const timestampToIso: Parser = (s) => (/^\d{4,}-\d\d-\d\d \d/.test(s) && !s.endsWith(" BC") ? s.replace(" ", "T") : s);

/**
 * "2024-01-02 03:04:05.123456+05:30" → "2024-01-01T21:34:05.123456Z": UTC,
 * keeping microseconds (offsets are whole seconds, so the fraction is unchanged).
 */
export const timestamptzToIso: Parser = (s) => {
  // Sessions in UTC (the usual server setting) print "YYYY-MM-DD hh:mm:ss[.ffffff]+00": no date math needed.
  if (s.length >= 22 && s.length <= 29 && s.charCodeAt(4) === 45 && s.charCodeAt(10) === 32 && s.endsWith("+00"))
    return `${s.slice(0, 10)}T${s.slice(11, -3)}Z`;
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(s);
  if (!m) return s; // infinity, BC, 5-digit years: keep the server's text
  const sign = m[8] === "-" ? -1 : 1;
  const offsetSec = sign * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0));
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) - offsetSec * 1000;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() > 9999 || d.getUTCFullYear() < 0) return s;
  return d.toISOString().slice(0, 19) + (m[7] ?? "") + "Z";
};

/** "\x48656c6c6f" (hex output) → "SGVsbG8=". */
export const byteaToBase64: Parser = (s) => (s.startsWith("\\x") ? Buffer.from(s.slice(2), "hex").toString("base64") : Buffer.from(s, "latin1").toString("base64"));

const array = (element: Parser): Parser => (s) => parseArray(s, element);

const int = (s: string) => parseInt(s, 10);
const float = (s: string) => parseFloat(s);

const PARSERS: Readonly<Record<number, Parser>> = {
  [OID.int8]: integerValue, [OID.numeric]: identity, [OID.money]: identity,
  [OID.date]: identity, [OID.timestamp]: timestampToIso, [OID.timestamptz]: timestamptzToIso,
  [OID.time]: identity, [OID.timetz]: identity, [OID.interval]: identity,
  [OID.bytea]: byteaToBase64,
  [OID.json]: JSON.parse, [OID.jsonb]: JSON.parse,
  1016: array(integerValue), 1231: array(identity), 791: array(identity),
  1182: array(identity), 1115: array(timestampToIso), 1185: array(timestamptzToIso),
  1183: array(identity), 1270: array(identity), 1187: array(identity),
  1001: array(byteaToBase64), 199: array(JSON.parse), 3807: array(JSON.parse),
  1005: array(int), 1007: array(int), 1021: array(float), 1022: array(float),
  1000: array((s) => s === "t"),
};

/** The `types` option for pg clients, pools and cursors. */
export const pgTypes = {
  getTypeParser(oid: number, format?: "text" | "binary"): Parser {
    if (format === "binary") return pg.types.getTypeParser(oid, "binary") as Parser;
    return PARSERS[oid] ?? (pg.types.getTypeParser(oid, "text") as Parser);
  },
};

// An oid pg has no parser for: its "parser" is the identity every unknown type gets.
const DEFAULT_TEXT = pg.types.getTypeParser(0x7ffffff0 as unknown as Parameters<typeof pg.types.getTypeParser>[0], "text");
/** Columns whose JSON value is a number that prints as PostgreSQL's own text (floats: same digits; see copyCsv). */
const NUMERIC_TEXT: ReadonlySet<number> = new Set([OID.int2, OID.int4, OID.int8, OID.oid, OID.float4, OID.float8]);

/**
 * The select-list expression that makes COPY's CSV text of column `ref` equal the
 * row path's CSV cell (the JSON value of the parsers above, printed), or null when
 * a type has no such expression (json, arrays, geometric types…): the row path then.
 */
export function csvExpr(oid: number, ref: string): string | null {
  switch (oid) {
    case OID.bool:
      return `${ref}::text`; // 'true' / 'false' (boolout's t/f is only the wire form)
    case OID.bytea:
      return `replace(encode(${ref}, 'base64'), E'\\n', '')`; // encode() wraps lines at 76 chars
    case OID.timestamp:
      return `case when ${ref}::text like '% BC' then ${ref}::text else replace(${ref}::text, ' ', 'T') end`;
    case OID.timestamptz:
      // Same range as timestamptzToIso: four-digit UTC years as ISO-8601 …Z, anything else the server's text.
      return `case when isfinite(${ref}) and ${ref} >= '0001-01-01 00:00:00+00' and ${ref} < '10000-01-01 00:00:00+00' ` +
        `then replace((${ref} at time zone 'UTC')::text, ' ', 'T') || 'Z' else ${ref}::text end`;
  }
  if (NUMERIC_TEXT.has(oid)) return ref;
  const parser = PARSERS[oid] ?? pg.types.getTypeParser(oid, "text");
  return parser === identity || parser === DEFAULT_TEXT ? ref : null;
}
