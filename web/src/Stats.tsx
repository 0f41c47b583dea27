import { useEffect, useState } from "react";
import { api, ApiError } from "./api.ts";
import { num } from "./format.ts";
import type { Source, SourceStats } from "./types.ts";

/** Query analytics of the source (GET /stats); servers without the endpoint get a note instead. */
export function Stats({ source }: { source: Source }) {
  const [stats, setStats] = useState<SourceStats | null>(null);
  const [note, setNote] = useState("");
  useEffect(() => {
    api<{ stats: SourceStats }>(`/api/data/sources/${encodeURIComponent(source.id)}/stats`).then(
      (r) => setStats(r.stats),
      (e: unknown) => setNote(e instanceof ApiError && e.status === 404 && /no route/i.test(e.message)
        ? "Query statistics are not available on this server yet (it has no /stats endpoint). The History tab lists every query."
        : (e as Error).message),
    );
  }, [source.id]);
  if (note) return <p className="alert info" role="status">{note}</p>;
  if (!stats) return <p className="muted">Loading…</p>;
  const maxDay = Math.max(1, ...stats.by_day.map((d) => d.queries));
  return (
    <div className="stats">
      <dl className="kpis">
        <div><dt>Queries</dt><dd>{num(stats.queries)}</dd></div>
        <div><dt>Errors</dt><dd>{num(stats.errors)}</dd></div>
        {stats.cached !== undefined && <div><dt>From cache</dt><dd>{num(stats.cached)}</dd></div>}
        <div><dt>p50</dt><dd>{num(stats.p50_ms)} ms</dd></div>
        <div><dt>p95</dt><dd>{num(stats.p95_ms)} ms</dd></div>
        <div><dt>Slowest</dt><dd>{num(stats.max_ms)} ms</dd></div>
      </dl>
      {stats.by_day.length > 0 && (
        <>
          <h3>Queries per day</h3>
          <ol className="by-day">
            {stats.by_day.map((d) => (
              <li key={d.day}>
                <span className="day">{d.day.slice(0, 10)}</span>
                <span className="bar-track"><span className="bar-fill" style={{ width: `${(d.queries / maxDay) * 100}%` }} /></span>
                <span>{num(d.queries)}{d.errors ? ` (${num(d.errors)} failed)` : ""}</span>
              </li>
            ))}
          </ol>
        </>
      )}
      {stats.slowest.length > 0 && (
        <>
          <h3>Slowest</h3>
          <table className="plain"><thead><tr><th scope="col">ms</th><th scope="col">Query</th></tr></thead>
            <tbody>{stats.slowest.map((s) => <tr key={s.query_id}><td className="num">{num(s.execution_time_ms)}</td><td><code>{s.query ?? "(query_config)"}</code></td></tr>)}</tbody></table>
        </>
      )}
      {stats.frequent.length > 0 && (
        <>
          <h3>Most frequent</h3>
          <table className="plain"><thead><tr><th scope="col">Runs</th><th scope="col">p50 ms</th><th scope="col">Query</th></tr></thead>
            <tbody>{stats.frequent.map((f, i) => <tr key={i}><td className="num">{num(f.count)}</td><td className="num">{num(f.p50_ms)}</td><td><code>{f.query ?? "(query_config)"}</code></td></tr>)}</tbody></table>
        </>
      )}
    </div>
  );
}
