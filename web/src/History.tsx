import { useCallback, useEffect, useState } from "react";
import { api } from "./api.ts";
import { ago, num } from "./format.ts";
import type { HistoryEntry, Source } from "./types.ts";

/** Placeholders of any dialect outside quotes ($1, ?, @p1, {p1:Type}). */
const takesParams = (sql: string) => /\$\d|\?|@p\d|\{p\d+:/.test(sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`/g, ""));

/** The source's query history, newest first: re-run an entry, or open it in the builder or the editor. */
export function History({ source, onOpen }: { source: Source; onOpen: (e: HistoryEntry, how: "builder" | "sql" | "run") => void }) {
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState("");
  const load = useCallback(async (after: string | null) => {
    try {
      const r = await api<{ queries: HistoryEntry[]; next_cursor: string | null }>(
        `/api/data/sources/${encodeURIComponent(source.id)}/queries?limit=50${after ? `&cursor=${encodeURIComponent(after)}` : ""}`);
      setEntries((old) => (after ? [...(old ?? []), ...r.queries] : r.queries));
      setCursor(r.next_cursor);
      setError("");
    } catch (e) {
      setError((e as Error).message);
    }
  }, [source.id]);
  useEffect(() => { void load(null); }, [load]);

  return (
    <div className="history">
      <div className="toolbar"><button type="button" className="secondary small" onClick={() => void load(null)}>↻ Reload</button></div>
      {error && <p className="alert error" role="alert">{error}</p>}
      {entries && entries.length === 0 && <p className="muted">No queries yet.</p>}
      <ol className="history-list">
        {entries?.map((e) => (
          <li key={e.id} className={`history-entry ${e.status}`}>
            <div className="history-meta">
              <span className={`status ${e.status}`}>{e.status === "success" ? "✓" : "✕"} {e.status}</span>
              <span title={e.created_at}>{ago(e.created_at)}</span>
              <span>{num(e.result_count)} rows</span>
              <span>{num(e.execution_time_ms)} ms</span>
              <span className="muted">by {e.user_id}</span>
            </div>
            <pre className="history-query"><code>{e.query ?? JSON.stringify(e.query_config)}</code></pre>
            {e.natural_language_query && <p className="muted small">“{e.natural_language_query}”</p>}
            {e.error && <p className="field-error">{e.error}</p>}
            <div className="row">
              {e.query && takesParams(e.query)
                ? <span className="muted small">Takes parameters, which history does not keep: open it in the editor to fill them in.</span>
                : <button type="button" className="small" onClick={() => onOpen(e, "run")}>▶ Re-run</button>}
              {e.query_config && <button type="button" className="secondary small" onClick={() => onOpen(e, "builder")}>Open in builder</button>}
              {e.query && <button type="button" className="secondary small" onClick={() => onOpen(e, "sql")}>Open in SQL editor</button>}
            </div>
          </li>
        ))}
      </ol>
      {cursor && <button type="button" className="secondary" onClick={() => void load(cursor)}>Older queries</button>}
    </div>
  );
}
