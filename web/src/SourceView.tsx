import { lazy, Suspense, useCallback, useState } from "react";
import { navigate, type Tab } from "./route.ts";
import { HealthDot, kindLabel } from "./Sources.tsx";
import { SchemaBrowser } from "./SchemaBrowser.tsx";
import { QueryBuilder, emptyBuilder, builderFromConfig, type BuilderState } from "./QueryBuilder.tsx";
import { Results } from "./Results.tsx";
import { History } from "./History.tsx";
import { Stats } from "./Stats.tsx";
import { useQueryRunner } from "./runner.ts";
import { ago, num } from "./format.ts";
import { hasSqlPreview } from "./sql-preview.ts";
import { api } from "./api.ts";
import type { SqlText } from "./SqlEditor.tsx";
import type { HistoryEntry, QueryBody, Source, SourceSchema } from "./types.ts";

// CodeMirror is most of the console's weight: loaded when the SQL tab first opens.
const SqlEditor = lazy(() => import("./SqlEditor.tsx").then((m) => ({ default: m.SqlEditor })));

const TAB_LABELS: Record<Tab, string> = { schema: "Schema", builder: "Query builder", sql: "SQL", history: "History", stats: "Stats" };

/** One source: its schema, the builder, the SQL editor, results, history and stats. */
export function SourceView({ source, tab, onChanged }: { source: Source; tab: Tab; onChanged: () => void }) {
  const [schema, setSchema] = useState<SourceSchema | null>(source.schema);
  const [builder, setBuilder] = useState<BuilderState>(() => emptyBuilder(source.schema));
  const [sqlText, setSqlText] = useState<SqlText>(() => ({ sql: defaultSql(source.schema, source.db_type), params: "", limit: "1000" }));
  const { state, run, cancel } = useQueryRunner(source.id);
  const isDb = source.type === "database";
  const speaksSql = hasSqlPreview(source.db_type);
  const tabs: Tab[] = speaksSql ? ["schema", "builder", "sql", "history", "stats"] : ["schema", "builder", "history", "stats"];
  const current = tabs.includes(tab) ? tab : "schema";

  const open = useCallback((entry: HistoryEntry, how: "builder" | "sql" | "run") => {
    const body: QueryBody = entry.query ? { sql: entry.query } : { query_config: entry.query_config as QueryBody["query_config"] };
    if (how === "run") { void run(body); return; }
    if (how === "sql" && entry.query) { setSqlText((t) => ({ ...t, sql: entry.query!, params: "", rev: (t.rev ?? 0) + 1 })); navigate(source.id, "sql"); }
    if (how === "builder" && entry.query_config) { setBuilder(builderFromConfig(entry.query_config, schema)); navigate(source.id, "builder"); }
  }, [run, schema, source.id]);

  const openSql = (sql: string, params: unknown[]) => {
    setSqlText((t) => ({ ...t, sql, params: params.length ? JSON.stringify(params) : "", rev: (t.rev ?? 0) + 1 }));
    navigate(source.id, "sql");
  };

  const showResults = current === "builder" || current === "sql" || (current === "history" && (state.running || state.result || state.error));
  return (
    <section className="source-view" aria-labelledby="source-title">
      <div className="source-title">
        <Title source={source} onRenamed={onChanged} />
        <p className="muted">
          <span className="badge">{kindLabel(source)}</span> · {num(schema?.total_rows)} rows · {schema?.tables.length ?? 0} tables ·
          schema {ago(schema?.last_updated)}{source.health?.error ? ` · ${source.health.error.message}` : ""}
        </p>
        {isDb && <TestButton source={source} onTested={onChanged} />}
      </div>
      <div role="tablist" className="tabs" aria-label="Source views">
        {tabs.map((t) => (
          <a key={t} role="tab" href={`#/sources/${encodeURIComponent(source.id)}/${t}`} aria-selected={t === current} className={t === current ? "tab active" : "tab"}
            id={`tab-${t}`} aria-controls="tab-panel">{TAB_LABELS[t]}</a>
        ))}
      </div>
      <div role="tabpanel" id="tab-panel" aria-labelledby={`tab-${current}`} className="tab-panel">
        {current === "schema" && <SchemaBrowser source={source} schema={schema} onSchema={(s) => { setSchema(s); onChanged(); }} />}
        {current === "builder" && (
          <QueryBuilder source={source} schema={schema} state={builder} onChange={setBuilder} running={state.running}
            onRun={(qc) => void run({ query_config: qc, limit: Math.max(1, qc.limit ?? 1000) })} onCancel={() => void cancel()} onOpenSql={speaksSql ? openSql : undefined} />
        )}
        {current === "sql" && speaksSql && (
          <Suspense fallback={<p className="muted">Loading the editor…</p>}>
            <SqlEditor source={source} schema={schema} value={sqlText} onChange={setSqlText} running={state.running}
              onRun={(sql, params, limit) => void run({ sql, limit, ...(params.length ? { params } : {}) })} onCancel={() => void cancel()} />
          </Suspense>
        )}
        {current === "history" && <History source={source} onOpen={open} />}
        {current === "stats" && <Stats source={source} />}
        {showResults && <Results source={source} state={state} onCancel={() => void cancel()} />}
      </div>
    </section>
  );
}

function defaultSql(schema: SourceSchema | null, dbType: string | null): string {
  const t = schema?.tables[0];
  if (!t) return "select 1";
  const q = dbType === "mysql" || dbType === "clickhouse" || dbType === "bigquery" ? "`" : '"';
  const id = (s: string) => (/^[a-z_][a-z0-9_]*$/.test(s) ? s : q + s.split(q).join(q + q) + q);
  return `select *\nfrom ${t.schema ? `${id(t.schema)}.${id(t.name)}` : id(t.name)}\nlimit 100`;
}

/** Tests the stored connection (POST /sources/{id}/test), which also updates its health. */
function TestButton({ source, onTested }: { source: Source; onTested: () => void }) {
  const [state, setState] = useState<{ busy: boolean; ok?: boolean; text?: string }>({ busy: false });
  const test = async () => {
    setState({ busy: true });
    try {
      const r = await api<{ message: string; latency_ms: number }>(`/api/data/sources/${encodeURIComponent(source.id)}/test`, { method: "POST" });
      setState({ busy: false, ok: true, text: `${r.message} in ${Math.round(r.latency_ms)} ms` });
    } catch (e) {
      setState({ busy: false, ok: false, text: (e as Error).message });
    }
    onTested();
  };
  return (
    <div className="row">
      <button type="button" className="secondary small" disabled={state.busy} onClick={() => void test()}>{state.busy ? "Testing…" : "Test connection"}</button>
      {state.text && <span role="status" className={state.ok ? "ok-text small" : "warn-text small"}>{state.ok ? "✓ " : ""}{state.text}</span>}
    </div>
  );
}

/** The source's name, renamed in place (PATCH /sources/{id}; owner or admin). */
function Title({ source, onRenamed }: { source: Source; onRenamed: () => void }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(source.name);
  const [error, setError] = useState("");
  const save = async () => {
    setError("");
    try {
      await api(`/api/data/sources/${encodeURIComponent(source.id)}`, { method: "PATCH", json: { name } });
      setEditing(false);
      onRenamed();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  if (!editing) {
    return (
      <div className="row">
        <h1 id="source-title"><HealthDot source={source} />{source.name}</h1>
        <button type="button" className="ghost small" onClick={() => { setName(source.name); setEditing(true); }} aria-label={`Rename ${source.name}`}>✎ Rename</button>
      </div>
    );
  }
  return (
    <form className="row" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <h1 id="source-title" className="sr-only">{source.name}</h1>
      <label className="sr-only" htmlFor="rename">New name</label>
      <input id="rename" value={name} onChange={(e) => setName(e.target.value)} autoFocus aria-invalid={error ? true : undefined} />
      <button type="submit" className="small">Save</button>
      <button type="button" className="secondary small" onClick={() => setEditing(false)}>Cancel</button>
      {error && <p className="field-error" role="alert">{error}</p>}
    </form>
  );
}
