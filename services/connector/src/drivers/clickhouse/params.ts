/**
 * ClickHouse parameters are `{p1:Type}` placeholders bound positionally
 * (p1 = params[0]). Servers since 19.15 bind them natively (`param_p1`); older
 * ones (Debian's 18.16) do not, so `substituteParams` writes each as
 * `CAST(<literal> AS <Type>)` with ClickHouse's string escaping.
 */
import { DriverError } from "../types.ts";
import { sqlLiteral, type LiteralStyle } from "../shared/literals.ts";

export interface Placeholder {
  start: number;
  end: number;
  name: string;
  type: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// A type: identifiers, digits, spaces, commas, parentheses and quoted time zones/enum names.
const TYPE = /^[A-Za-z][A-Za-z0-9_]*(\((?:[A-Za-z0-9_ ,.()]|'(?:[^'\\]|\\.)*')*\))?$/;

/** `{name:Type}` placeholders outside quotes and comments. */
export function clickhousePlaceholders(sql: string): Placeholder[] {
  const out: Placeholder[] = [];
  const len = sql.length;
  for (let i = 0; i < len; i++) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === "`") {
      let j = i + 1;
      while (j < len) {
        if (sql[j] === "\\") j += 2;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      i = j;
    } else if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? len : nl;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? len : end + 1;
    } else if (c === "{") {
      const close = sql.indexOf("}", i);
      if (close < 0) continue;
      const body = sql.slice(i + 1, close);
      const colon = body.indexOf(":");
      if (colon < 0) continue;
      const name = body.slice(0, colon).trim();
      const type = body.slice(colon + 1).trim();
      if (!NAME.test(name) || !TYPE.test(type)) continue;
      out.push({ start: i, end: close + 1, name, type });
      i = close;
    }
  }
  return out;
}

/** ClickHouse string literal: backslash and quote escaped (backslash escapes are always on). */
export function quoteClickhouse(s: string): string {
  return "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\0/g, "\\0") + "'";
}

const CLICKHOUSE_LITERALS: LiteralStyle = {
  boolean: (v) => (v ? "1" : "0"),
  string: quoteClickhouse,
  date: (v) => quoteClickhouse(v.toISOString().slice(0, 19).replace("T", " ")),
  array: (items, literal) => "[" + items.map(literal).join(", ") + "]",
};

/** A literal for one value (before the CAST to the placeholder's type). */
export function clickhouseLiteral(v: unknown): string {
  return sqlLiteral(v, CLICKHOUSE_LITERALS);
}

/** Index into params of a positional name `p1`, `p2`, ... (1-based). */
function position(name: string): number | null {
  const m = /^p(\d+)$/.exec(name);
  return m ? Number(m[1]) - 1 : null;
}

/** Maps positional params to the names the SQL uses (`p1` → params[0]); checks every name has a value. */
export function namedParams(sql: string, params: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const used = new Set<number>();
  for (const p of clickhousePlaceholders(sql)) {
    const i = position(p.name);
    if (i === null) throw new DriverError("query", `Parameter {${p.name}:${p.type}} must be named p1, p2, ... to bind positionally`);
    if (i >= params.length) throw new DriverError("query", `The query uses {${p.name}:${p.type}} but only ${params.length} parameter${params.length === 1 ? " was" : "s were"} given`);
    out[p.name] = params[i];
    used.add(i);
  }
  if (used.size < params.length) throw new DriverError("query", `${params.length} parameters were given but the query uses ${used.size} of them; use {p1:Type}, {p2:Type}, ... placeholders`);
  return out;
}

/** Client-side binding for servers without query parameters. */
export function substituteParams(sql: string, params: readonly unknown[]): string {
  if (params.length === 0) return sql;
  namedParams(sql, params); // validates names and counts
  let out = "";
  let last = 0;
  for (const p of clickhousePlaceholders(sql)) {
    const v = params[position(p.name)!];
    const lit = clickhouseLiteral(v);
    // NULL needs a Nullable target type for CAST.
    const type = lit === "NULL" && !/^Nullable\(/.test(p.type) ? `Nullable(${p.type})` : p.type;
    out += sql.slice(last, p.start) + `CAST(${lit} AS ${type})`;
    last = p.end;
  }
  return out + sql.slice(last);
}
