import { useMemo, useState } from "react";
import { api } from "./api.ts";
import { ago, num } from "./format.ts";
import type { SchemaChange, Source, SourceSchema } from "./types.ts";

const SHOWN_MAX = 300;
const CHANGE_TEXT: Record<SchemaChange["kind"], string> = {
  table_added: "table added", table_removed: "table removed", column_added: "column added",
  column_removed: "column removed", column_retyped: "column retyped",
};
export const tableKey = (t: { schema?: string | undefined; name: string }) => (t.schema ? `${t.schema}.${t.name}` : t.name);

/** Tables and views with their columns, keys and row counts; refresh shows what changed. */
export function SchemaBrowser({ source, schema, onSchema }: { source: Source; schema: SourceSchema | null; onSchema: (s: SourceSchema) => void }) {
  const [filter, setFilter] = useState("");
  const [busy, setBusy] = useState(false);
  const [warning, setWarning] = useState("");
  const [error, setError] = useState("");
  const [changes, setChanges] = useState<SchemaChange[] | null>(null);

  const refresh = async () => {
    setBusy(true); setError(""); setWarning("");
    try {
      const r = await api<{ schema: SourceSchema | null; warning?: string; changes?: SchemaChange[] }>(
        `/api/data/sources/${encodeURIComponent(source.id)}/schema?refresh=true`);
      setWarning(r.warning ?? "");
      setChanges(r.warning ? null : r.changes ?? []);
      if (r.schema) onSchema(r.schema);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const changed = useMemo(() => {
    const tables = new Set<string>();
    const columns = new Map<string, SchemaChange["kind"]>();
    for (const c of changes ?? []) {
      if (c.kind === "table_added") tables.add(c.table);
      if (c.column) columns.set(`${c.table}\u0000${c.column}`, c.kind);
    }
    return { tables, columns };
  }, [changes]);

  const tables = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const all = schema?.tables ?? [];
    return needle ? all.filter((t) => tableKey(t).toLowerCase().includes(needle) || t.columns.some((c) => c.name.toLowerCase().includes(needle))) : all;
  }, [schema, filter]);

  return (
    <div className="schema">
      <div className="toolbar">
        <label className="sr-only" htmlFor="table-filter">Filter tables and columns</label>
        <input id="table-filter" type="search" placeholder="Filter tables and columns…" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <span className="muted small" title={schema?.last_updated}>Last refreshed {ago(schema?.last_updated)}</span>
        {source.type === "database" && (
          <button type="button" onClick={() => void refresh()} disabled={busy}>{busy ? "Refreshing…" : "↻ Refresh schema"}</button>
        )}
      </div>
      {warning && <p className="alert warn" role="alert">⚠ {warning}. The tables below are the stored copy; check the connection (Test) and refresh again.</p>}
      {error && <p className="alert error" role="alert">{error}</p>}
      {changes && (
        <div className="alert info" role="status">
          {changes.length === 0 ? "Refreshed: no changes since the stored schema." : (
            <>
              <strong>{changes.length} change{changes.length > 1 ? "s" : ""} since the stored schema:</strong>
              <ul className="changes">
                {changes.slice(0, 50).map((c, i) => (
                  <li key={i} className={`change ${c.kind}`}>
                    {CHANGE_TEXT[c.kind]}: <code>{c.table}{c.column ? `.${c.column}` : ""}</code>
                    {c.kind === "column_retyped" ? ` (${c.from} → ${c.to})` : ""}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
      {!schema && <p className="muted">No schema stored yet. {source.type === "database" ? "Refresh to read it from the database." : ""}</p>}
      {schema && tables.length === 0 && <p className="muted">No table matches.</p>}
      <div className="tables">
        {tables.slice(0, SHOWN_MAX).map((t, i) => {
          const key = tableKey(t);
          return (
            <details key={key} className={changed.tables.has(key) ? "table changed" : "table"} open={tables.length <= 3 || (i === 0 && !!filter)}>
              <summary>
                <span className="table-name">{key}</span>
                <span className="badge">{t.kind ?? "table"}</span>
                <span className="muted small">{num(t.rowCount)} rows · {t.columns.length} columns</span>
              </summary>
              <table className="plain columns">
                <thead><tr><th scope="col">Column</th><th scope="col">Type</th><th scope="col">Key</th><th scope="col">Nullable</th></tr></thead>
                <tbody>
                  {t.columns.map((c) => {
                    const kind = changed.columns.get(`${key}\u0000${c.name}`);
                    return (
                      <tr key={c.name} className={kind ? `changed ${kind}` : undefined}>
                        <td>{c.name}{kind && <span className="sr-only"> ({CHANGE_TEXT[kind]})</span>}</td>
                        <td className="type">{c.type}</td>
                        <td>{c.primary_key ? <span className="badge key" title="primary key">PK</span> : ""}</td>
                        <td>{c.nullable ? "yes" : "no"}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </details>
          );
        })}
      </div>
      {tables.length > SHOWN_MAX && <p className="muted">{num(tables.length - SHOWN_MAX)} more tables: type in the filter to find one.</p>}
    </div>
  );
}
