/**
 * Binds `?` parameters into MySQL SQL on the client (the text protocol, so
 * results can stream). Unlike mysql2's `format`, it skips `?` inside string
 * literals, quoted identifiers and comments, and it writes strings as
 * `_utf8mb4 X'…'` hex literals, which mean the same text whatever the session's
 * sql_mode (NO_BACKSLASH_ESCAPES changes what a backslash does in '…').
 */
import { DriverError } from "../types.ts";
import { sqlLiteral, type LiteralStyle } from "../shared/literals.ts";

const utf8mb4 = (v: string): string => (v === "" ? "''" : `_utf8mb4 X'${Buffer.from(v, "utf8").toString("hex")}'`);

const MYSQL_LITERALS: LiteralStyle = {
  boolean: (v) => (v ? "TRUE" : "FALSE"),
  string: utf8mb4,
  date: (v) => utf8mb4(v.toISOString().replace("T", " ").replace("Z", "")),
  // A list is written for IN (?): its items joined, not one value.
  array: (items, literal) => {
    if (items.length === 0) throw new DriverError("query", "An array parameter (for IN (?)) needs at least one value");
    return items.map((x) => {
      if (x !== null && typeof x === "object") throw new DriverError("query", "Array parameters may hold only strings, numbers, booleans or null");
      return literal(x);
    }).join(", ");
  },
};

/** One SQL literal for a JSON-ish parameter value. */
export function mysqlLiteral(v: unknown): string {
  return sqlLiteral(v, MYSQL_LITERALS);
}

/**
 * The SQL with string literals, quoted identifiers and comments blanked out
 * (same length, so offsets match). Executable comments (`/*! ... *\/`,
 * `/*M! ... *\/`) are code to MySQL/MariaDB and stay visible.
 */
export function mysqlCodeMask(sql: string, backslashEscapes = true): string {
  const out = sql.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== "\n") out[k] = " ";
  };
  const len = sql.length;
  for (let i = 0; i < len; i++) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === "`") {
      // Quoted text ends at the next unescaped, undoubled quote of the same kind.
      let j = i + 1;
      while (j < len) {
        if (backslashEscapes && sql[j] === "\\" && c !== "`") j += 2;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      blank(i + 1, j);
      i = j;
    } else if ((c === "-" && sql[i + 1] === "-" && (i + 2 >= len || /\s/.test(sql[i + 2]!))) || c === "#") {
      const nl = sql.indexOf("\n", i);
      blank(i, nl < 0 ? len : nl);
      i = nl < 0 ? len : nl;
    } else if (c === "/" && sql[i + 1] === "*" && sql[i + 2] !== "!" && !(sql[i + 2] === "M" && sql[i + 3] === "!")) {
      const end = sql.indexOf("*/", i + 2);
      blank(i, end < 0 ? len : end + 2);
      i = end < 0 ? len : end + 1;
    }
  }
  return out.join("");
}

/** Offsets of the top-level `?` placeholders (not inside quotes or comments). */
export function mysqlPlaceholders(sql: string): number[] {
  const mask = mysqlCodeMask(sql);
  const at: number[] = [];
  for (let i = mask.indexOf("?"); i !== -1; i = mask.indexOf("?", i + 1)) at.push(i);
  return at;
}

/** Replaces each top-level `?` with the next parameter's literal; the counts must match. */
export function bindMysql(sql: string, params: readonly unknown[]): string {
  if (params.length === 0) return sql;
  const at = mysqlPlaceholders(sql);
  if (at.length !== params.length)
    throw new DriverError("query", `The query has ${at.length} ? placeholder${at.length === 1 ? "" : "s"} but ${params.length} parameter${params.length === 1 ? " was" : "s were"} given`);
  let out = "";
  let last = 0;
  at.forEach((pos, k) => {
    out += sql.slice(last, pos) + mysqlLiteral(params[k]);
    last = pos + 1;
  });
  return out + sql.slice(last);
}
