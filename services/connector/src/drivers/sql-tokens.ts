/**
 * A small SQL tokenizer for the read-only guards of databases without a parser
 * here (MySQL/MariaDB, ClickHouse). It knows what the server treats as data
 * (strings), names (quoted identifiers) and nothing (comments). Where the
 * server's reading depends on its version or sql_mode (backslash escapes, `#`
 * comments, nested comments, $$ strings), a guard tokenizes the text once per
 * possible reading and refuses it if any reading is unfit: text that is a
 * string in one reading and code in another (`select 'a\' , load_file('x') -- '`)
 * is then judged as code. MySQL's executable comments (`/*! … *\/`,
 * `/*!50001 … *\/`, MariaDB's `/*M! … *\/`) are code to the server and are
 * tokenized as code.
 */

export interface SqlToken {
  /** word: a bare word (text uppercased); ident: a `quoted` identifier; dquote: "…" (a string or an identifier by sql_mode); string: '…'; op: punctuation (`:=` is one). */
  type: "word" | "ident" | "dquote" | "string" | "op";
  /** Words uppercased; quoted tokens their content without quotes; ops as written. */
  text: string;
}

/** One possible reading of the text by the server. */
export interface SqlDialect {
  /** A backslash escapes the next character inside '…'. */
  backslashInSingle: boolean;
  /** A backslash escapes the next character inside "…" (and `…` where backtickBackslash). */
  backslashInDouble: boolean;
  /** A backslash escapes the next character inside `…`. */
  backtickBackslash: boolean;
  /** `--` starts a comment only when followed by a space or control character (MySQL); else always (ClickHouse). */
  dashDashNeedsSpace: boolean;
  /** `#` starts a comment to the end of the line. */
  hashComments: boolean;
  /** `/* /* *\/ *\/` nests. */
  nestedComments: boolean;
  /** `$$…$$` and `$tag$…$tag$` are strings. */
  dollarQuotes: boolean;
  /** `/*! … *\/` and `/*M! … *\/` hold code (MySQL/MariaDB). */
  executableComments: boolean;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

/** The tokens of `sql` under `dialect`. Unterminated quotes and comments run to the end of the text. */
export function sqlTokens(sql: string, dialect: SqlDialect): SqlToken[] {
  const out: SqlToken[] = [];
  const n = sql.length;
  let inExecutable = false;
  let i = 0;
  const quoted = (q: string): string => {
    // From the opening quote at i: content up to the closing quote; doubled quotes (and backslashes where on) escape.
    const backslash = q === "'" ? dialect.backslashInSingle : q === '"' ? dialect.backslashInDouble : dialect.backtickBackslash;
    let j = i + 1;
    let text = "";
    while (j < n) {
      const c = sql[j]!;
      if (c === "\\" && backslash) {
        text += sql[j + 1] ?? "";
        j += 2;
      } else if (c === q) {
        if (sql[j + 1] === q) {
          text += q;
          j += 2;
        } else break;
      } else {
        text += c;
        j++;
      }
    }
    i = j + 1;
    return text;
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && next === "-" && (!dialect.dashDashNeedsSpace || i + 2 >= n || sql.charCodeAt(i + 2) <= 32 || sql.charCodeAt(i + 2) === 127)) {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === "#" && dialect.hashComments) {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === "/" && next === "*") {
      const exec = dialect.executableComments && (sql[i + 2] === "!" || (sql[i + 2] === "M" && sql[i + 3] === "!"));
      if (exec) {
        // The code inside runs (on servers at least as new as the optional version number).
        i += sql[i + 2] === "!" ? 3 : 4;
        while (i < n && /[0-9]/.test(sql[i]!)) i++;
        inExecutable = true;
      } else if (dialect.nestedComments) {
        i = afterNestedComment(sql, i);
      } else {
        const end = sql.indexOf("*/", i + 2);
        i = end < 0 ? n : end + 2;
      }
    } else if (c === "*" && next === "/" && inExecutable) {
      inExecutable = false;
      i += 2;
    } else if (c === "$" && dialect.dollarQuotes && /^\$[A-Za-z0-9_]*\$/.test(sql.slice(i, i + 66))) {
      const tag = /^\$[A-Za-z0-9_]*\$/.exec(sql.slice(i, i + 66))![0];
      const end = sql.indexOf(tag, i + tag.length);
      out.push({ type: "string", text: sql.slice(i + tag.length, end < 0 ? n : end) });
      i = end < 0 ? n : end + tag.length;
    } else if (c === "'") {
      out.push({ type: "string", text: quoted("'") });
    } else if (c === '"') {
      out.push({ type: "dquote", text: quoted('"') });
    } else if (c === "`") {
      out.push({ type: "ident", text: quoted("`") });
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < n && WORD_PART.test(sql[j]!)) j++;
      out.push({ type: "word", text: sql.slice(i, j).toUpperCase() });
      i = j;
    } else if (/[0-9]/.test(c)) {
      // Numbers (and MySQL names that start with a digit, like 1e or 2abc) as one word.
      let j = i + 1;
      while (j < n && WORD_PART.test(sql[j]!)) j++;
      out.push({ type: "word", text: sql.slice(i, j).toUpperCase() });
      i = j;
    } else if (c === ":" && next === "=") {
      out.push({ type: "op", text: ":=" });
      i += 2;
    } else {
      out.push({ type: "op", text: c });
      i++;
    }
  }
  return out;
}

/** The index just past the nesting block comment that starts at `i` (`/*`), or the text's end. */
export function afterNestedComment(sql: string, i: number): number {
  let depth = 1;
  let j = i + 2;
  while (j < sql.length && depth > 0) {
    if (sql[j] === "/" && sql[j + 1] === "*") { depth++; j += 2; }
    else if (sql[j] === "*" && sql[j + 1] === "/") { depth--; j += 2; }
    else j++;
  }
  return j;
}

/** Every combination of the given options' values over `base`: the readings a guard must check. */
export function readings(base: SqlDialect, vary: (keyof SqlDialect)[]): SqlDialect[] {
  let out: SqlDialect[] = [base];
  for (const k of vary) out = out.flatMap((d) => [{ ...d, [k]: true }, { ...d, [k]: false }]);
  return out;
}

/** The first violation `check` finds in any reading of `sql`, or null when every reading is fit. */
export function firstViolation(sql: string, dialects: SqlDialect[], check: (tokens: SqlToken[]) => string | null): string | null {
  for (const d of dialects) {
    const why = check(sqlTokens(sql, d));
    if (why !== null) return why;
  }
  return null;
}

/** The name a token stands for when it may name a function or table: bare, `quoted` or "quoted", uppercased. */
export const nameOf = (t: SqlToken | undefined): string | null =>
  t && (t.type === "word" || t.type === "ident" || t.type === "dquote") ? t.text.toUpperCase() : null;

/** Index of the first token after a top-level `;` that is not itself a `;`, or -1 (one statement). */
function secondStatement(tokens: SqlToken[]): number {
  const semi = tokens.findIndex((t) => t.type === "op" && t.text === ";");
  if (semi < 0) return -1;
  return tokens.findIndex((t, k) => k > semi && !(t.type === "op" && t.text === ";"));
}

/**
 * What every token guard checks first: one statement, whose first word (past
 * opening parentheses) is one of `readStarts`. `startReason` words the refusal
 * of another first word. Null when the shape is fine (or there are no tokens).
 */
export function statementShapeViolation(tokens: SqlToken[], readStarts: ReadonlySet<string>, startReason: (word: string) => string): string | null {
  if (tokens.length === 0) return null;
  if (secondStatement(tokens) >= 0) return "the text holds several statements; send one statement per query";
  const first = tokens.find((t) => !(t.type === "op" && t.text === "("))?.text ?? null;
  if (first === null || !readStarts.has(first)) return startReason(first ?? "this statement");
  return null;
}
