import { useMemo, useState } from "react";
import { api, ApiError } from "./api.ts";
import { Dialog } from "./Dialog.tsx";
import { ago, num } from "./format.ts";
import type { HealthStatus, Source } from "./types.ts";

const HEALTH_TEXT: Record<HealthStatus, string> = {
  healthy: "healthy", degraded: "degraded", unhealthy: "unhealthy", unknown: "health unknown",
};

export function healthOf(s: Source): HealthStatus | null {
  if (s.type !== "database") return null;
  return s.health?.status ?? "unknown";
}

export function HealthDot({ source }: { source: Source }) {
  const h = healthOf(source);
  if (!h) return null;
  const detail = source.health?.error?.message ? `: ${source.health.error.message}` : "";
  return <span className={`dot ${h}`} role="img" aria-label={HEALTH_TEXT[h]} title={HEALTH_TEXT[h] + detail} />;
}

export const kindLabel = (s: Source) => (s.type === "database" ? s.db_type ?? "database" : s.format ?? "file");

/** DataSourceManager: the tenant's sources with search, health, rows and delete. */
export function SourcesPanel(props: {
  sources: Source[] | null; health: Record<HealthStatus, number> | null; error: string; selectedId: string | null;
  onConnect: () => void; onUpload: () => void; onDeleted: (id: string) => void;
}) {
  const { sources, error, selectedId } = props;
  const [q, setQ] = useState("");
  const [deleting, setDeleting] = useState<Source | null>(null);
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (sources ?? []).filter((s) => !needle || `${s.name} ${kindLabel(s)}`.toLowerCase().includes(needle));
  }, [sources, q]);

  return (
    <aside className="sources" aria-label="Sources">
      <div className="sources-head">
        <h2>Sources</h2>
        <div className="row">
          <button type="button" onClick={props.onConnect}>+ Database</button>
          <button type="button" className="secondary" onClick={props.onUpload}>↑ File</button>
        </div>
        {props.health && (
          <p className="health-counts small" aria-label="Health of the databases">
            {(["unhealthy", "degraded", "healthy", "unknown"] as const).filter((k) => props.health![k] > 0).map((k) => (
              <span key={k}><span className={`dot ${k}`} aria-hidden="true" />{props.health![k]} {k}</span>
            ))}
          </p>
        )}
        <label className="sr-only" htmlFor="source-search">Search sources</label>
        <input id="source-search" type="search" placeholder="Search sources…" value={q} onChange={(e) => setQ(e.target.value)} />
      </div>
      {error && <p className="alert error" role="alert">{error}</p>}
      {!sources && !error && <p className="muted pad">Loading…</p>}
      {sources && shown.length === 0 && <p className="muted pad">{sources.length ? "No source matches." : "No sources yet: connect a database or upload a file."}</p>}
      <ul className="source-list">
        {shown.map((s) => (
          <li key={s.id} className={s.id === selectedId ? "selected" : undefined}>
            <a href={`#/sources/${encodeURIComponent(s.id)}/schema`} className="source-link" aria-current={s.id === selectedId ? "page" : undefined}>
              <span className="source-name"><HealthDot source={s} />{s.name}</span>
              <span className="source-meta">
                <span className="badge">{kindLabel(s)}</span>
                <span title="rows in its tables">{num(s.schema?.total_rows)} rows</span>
                <span title={s.schema?.last_updated ?? "no schema yet"}>schema {ago(s.schema?.last_updated)}</span>
              </span>
            </a>
            <button type="button" className="ghost icon" aria-label={`Delete ${s.name}`} title="Delete" onClick={() => setDeleting(s)}><TrashIcon /></button>
          </li>
        ))}
      </ul>
      {deleting && <DeleteDialog source={deleting} onClose={() => setDeleting(null)} onDeleted={() => { props.onDeleted(deleting.id); setDeleting(null); }} />}
    </aside>
  );
}

function DeleteDialog({ source, onClose, onDeleted }: { source: Source; onClose: () => void; onDeleted: () => void }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const del = async () => {
    setBusy(true);
    setError("");
    try {
      await api(`/api/data/sources/${encodeURIComponent(source.id)}`, { method: "DELETE" });
      onDeleted();
    } catch (e) {
      setError(e instanceof ApiError && e.status === 403
        ? `You cannot delete this source: only the user who added it, or an admin, may delete it. (${e.message})`
        : (e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Delete ${source.name}?`} onClose={onClose}>
      <p>Its queries stop working at once and its connection pools close. Its query history is kept.</p>
      {error && <p className="alert error" role="alert">{error}</p>}
      <div className="row end">
        <button type="button" className="secondary" onClick={onClose}>Keep it</button>
        <button type="button" className="danger" disabled={busy} onClick={() => void del()}>{busy ? "Deleting…" : "Delete"}</button>
      </div>
    </Dialog>
  );
}


function TrashIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.4" strokeLinecap="round">
      <path d="M2.5 4h11M6 4V2.5h4V4M4 4l.7 9.5h6.6L12 4M6.7 6.5v5M9.3 6.5v5" />
    </svg>
  );
}
