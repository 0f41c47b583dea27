import { useEffect, useRef, useState } from "react";
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers, placeholder } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { autocompletion, completionKeymap } from "@codemirror/autocomplete";
import { MSSQL, MySQL, PostgreSQL, StandardSQL, sql, type SQLNamespace } from "@codemirror/lang-sql";
import type { Source, SourceSchema } from "./types.ts";

const DIALECT: Record<string, typeof StandardSQL> = { postgresql: PostgreSQL, redshift: PostgreSQL, mysql: MySQL, mssql: MSSQL };
const PLACEHOLDER_HINT: Record<string, string> = {
  postgresql: "$1, $2…", redshift: "$1, $2…", mysql: "?", snowflake: "?", bigquery: "?", mssql: "@p1, @p2…", clickhouse: "{p1:String}",
};

/** The schema's names for completion: schema → table → columns (tables of the first schema also bare). */
function namespace(schema: SourceSchema | null): { ns: SQLNamespace; defaultSchema?: string } {
  const ns: Record<string, Record<string, string[]> | string[]> = {};
  for (const t of schema?.tables ?? []) {
    const cols = t.columns.map((c) => c.name);
    if (t.schema) ((ns[t.schema] ??= {}) as Record<string, string[]>)[t.name] = cols;
    else ns[t.name] = cols;
  }
  const defaultSchema = schema?.schemas.includes("public") ? "public" : schema?.schemas[0];
  return defaultSchema ? { ns, defaultSchema } : { ns };
}

const theme = EditorView.theme({
  "&": { backgroundColor: "var(--input-bg)", color: "var(--fg)", border: "1px solid var(--border)", borderRadius: "6px", fontSize: "0.95rem" },
  "&.cm-focused": { outline: "2px solid var(--focus)", outlineOffset: "1px" },
  ".cm-content": { fontFamily: "var(--mono)", caretColor: "var(--fg)", minHeight: "9rem" },
  ".cm-gutters": { backgroundColor: "var(--panel)", color: "var(--muted)", border: "none" },
  ".cm-activeLine": { backgroundColor: "var(--hover)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--hover)" },
  "&.cm-focused .cm-cursor": { borderLeftColor: "var(--fg)" },
  ".cm-tooltip": { backgroundColor: "var(--panel)", color: "var(--fg)", border: "1px solid var(--border)" },
  ".cm-tooltip-autocomplete ul li[aria-selected]": { backgroundColor: "var(--accent)", color: "var(--accent-fg)" },
});

/** The editor's form: statement, parameters as a JSON array, and the row limit of the JSON result. */
export interface SqlText {
  sql: string; params: string; limit: string;
  /** Bumped when the text is set from outside (history, "Open in SQL editor"): only then is the editor's document replaced. */
  rev?: number;
}

/** CodeMirror 6 with the source's names for completion, parameters, Ctrl+Enter to run and a cancel button. */
export function SqlEditor(props: {
  source: Source; schema: SourceSchema | null; value: SqlText;
  onChange: (v: SqlText) => void; running: boolean; onRun: (sql: string, params: unknown[], limit: number) => void; onCancel: () => void;
}) {
  const { source, schema, value } = props;
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const lang = useRef(new Compartment());
  const latest = useRef(props);
  latest.current = props;
  const [paramError, setParamError] = useState("");

  const run = () => {
    const p = latest.current;
    if (p.running) return;
    const text = view.current?.state.doc.toString() ?? p.value.sql;
    let params: unknown[] = [];
    const raw = p.value.params.trim();
    if (raw) {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (!Array.isArray(parsed)) throw new Error("not an array");
        params = parsed;
      } catch {
        setParamError('Parameters must be a JSON array, e.g. ["EU", 10]');
        return;
      }
    }
    setParamError("");
    const limit = Number(p.value.limit);
    p.onRun(text, params, Number.isInteger(limit) && limit > 0 ? limit : 1000);
  };
  const runRef = useRef(run);
  runRef.current = run;

  useEffect(() => {
    const { ns, defaultSchema } = namespace(latest.current.schema);
    // In a shadow root CodeMirror mounts its styles as a constructed style sheet; in the document it
    // would add <style> elements, which the console's CSP (style-src 'self', no nonce) blocks.
    const root = host.current!.shadowRoot ?? host.current!.attachShadow({ mode: "open" });
    const v = new EditorView({
      root, parent: root,
      state: EditorState.create({
        doc: latest.current.value.sql,
        extensions: [
          lineNumbers(), history(), drawSelection(), highlightActiveLine(), bracketMatching(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }), autocompletion(), theme, EditorView.lineWrapping,
          placeholder("select …"),
          keymap.of([{ key: "Mod-Enter", run: () => { runRef.current(); return true; } }, ...completionKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
          lang.current.of(sql({ dialect: DIALECT[latest.current.source.db_type ?? ""] ?? StandardSQL, schema: ns, ...(defaultSchema ? { defaultSchema } : {}), upperCaseKeywords: false })),
          EditorView.contentAttributes.of({ "aria-label": "SQL query", "aria-describedby": "sql-help" }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) latest.current.onChange({ ...latest.current.value, sql: u.state.doc.toString() });
          }),
        ],
      }),
    });
    view.current = v;
    return () => { v.destroy(); view.current = null; };
  }, []);

  // Completion follows a refreshed schema; text set from outside (history, "Open in SQL editor") replaces the document.
  useEffect(() => {
    const { ns, defaultSchema } = namespace(schema);
    view.current?.dispatch({ effects: lang.current.reconfigure(sql({ dialect: DIALECT[source.db_type ?? ""] ?? StandardSQL, schema: ns, ...(defaultSchema ? { defaultSchema } : {}) })) });
  }, [schema, source.db_type]);
  // Not on every change of value.sql: that lags the keystrokes (React renders later), and replacing the
  // document with it would drop what was typed meanwhile.
  useEffect(() => {
    const v = view.current;
    const text = latest.current.value.sql;
    if (v && value.rev && v.state.doc.toString() !== text) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } });
  }, [value.rev]);

  return (
    <div className="sql-editor">
      <div ref={host} className="cm-host" />
      <p id="sql-help" className="muted small">Ctrl+Enter runs · Ctrl+Space completes table and column names · queries run read-only</p>
      <div className="builder-grid">
        <div className="field">
          <label htmlFor="sql-params">Parameters <span className="muted">(JSON array, bound to {PLACEHOLDER_HINT[source.db_type ?? ""] ?? "placeholders"})</span></label>
          <input id="sql-params" value={value.params} placeholder='["EU", 10]' spellCheck={false}
            aria-invalid={paramError ? true : undefined} onChange={(e) => props.onChange({ ...value, params: e.target.value })}
            onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } }} />
          {paramError && <p className="field-error" role="alert">{paramError}</p>}
        </div>
        <div className="field">
          <label htmlFor="sql-limit">Row limit <span className="muted">(exports take every row)</span></label>
          <input id="sql-limit" type="number" min={1} value={value.limit} onChange={(e) => props.onChange({ ...value, limit: e.target.value })} />
        </div>
      </div>
      <div className="row">
        <button type="button" onClick={run} disabled={props.running}>{props.running ? "Running…" : "▶ Run"}</button>
        {props.running && <button type="button" className="danger" onClick={props.onCancel}>■ Cancel</button>}
      </div>
    </div>
  );
}
