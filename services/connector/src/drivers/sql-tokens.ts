/**
 * A small SQL tokenizer for the read-only guards of databases without a parser
 * here (MySQL/MariaDB, ClickHouse). It knows what the server treats as data
 * (strings), names (quoted identifiers) and nothing (comments), and when in
 * doubt it keeps text as code: a guard that sees too much refuses too much,
 * never too little. MySQL's executable comments (`/*! … *\/`, `/*!50001 … *\/`,
 * MariaDB's `/*M! … *\/`) are code to the server and are tokenized as code.
 */

export interface SqlToken {
  /** word: a bare word (text uppercased); ident: a `quoted` identifier; dquote: "…" (a string or an identifier by sql_mode); string: '…'; op: punctuation (`:=` is one). */
  type: "word" | "ident" | "dquote" | "string" | "op";
  /** Words uppercased; quoted tokens their content without quotes; ops as written. */
  text: string;
}

export interface SqlDialect {
  /** A backslash escapes the next character inside '…' and "…". */
  backslashEscapes: boolean;
  /** `--` starts a comment only when followed by whitespace (MySQL); else always (ClickHouse). */
  dashDashNeedsSpace: boolean;
  /** `#` starts a comment to the end of the line (MySQL). */
  hashComments: boolean;
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
    let j = i + 1;
    let text = "";
    while (j < n) {
      const c = sql[j]!;
      if (c === "\\" && dialect.backslashEscapes && q !== "`") {
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
    } else if (c === "-" && next === "-" && (!dialect.dashDashNeedsSpace || i + 2 >= n || /\s/.test(sql[i + 2]!))) {
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
      } else {
        const end = sql.indexOf("*/", i + 2);
        i = end < 0 ? n : end + 2;
      }
    } else if (c === "*" && next === "/" && inExecutable) {
      inExecutable = false;
      i += 2;
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
