import { useEffect, useRef, useState } from "react";
import { Grid } from "./Grid.tsx";
import { Chart } from "./Chart.tsx";
import { exportResult, type ExportFormat } from "./exporter.ts";
import { bytes, num } from "./format.ts";
import type { RunState } from "./runner.ts";
import type { Source } from "./types.ts";

/** The result of the last run: grid or chart, column types, and streamed exports of the whole result. */
export function Results({ source, state, onCancel }: { source: Source; state: RunState; onCancel: () => void }) {
  const [view, setView] = useState<"table" | "chart">("table");
  const [exporting, setExporting] = useState<{ format: ExportFormat; bytes: number } | null>(null);
  const [exportMsg, setExportMsg] = useState("");
  const abort = useRef<AbortController | null>(null);
  const r = state.result;
  useEffect(() => setExportMsg(""), [r]);

  const doExport = async (format: ExportFormat) => {
    if (!state.body) return;
    abort.current = new AbortController();
    setExporting({ format, bytes: 0 });
    setExportMsg("");
    try {
      const done = await exportResult(source.id, state.body, format, (n) => setExporting({ format, bytes: n }), abort.current.signal);
      if (done === "saved") setExportMsg(`Exported ${format.toUpperCase()}.`);
    } catch (e) {
      setExportMsg((e as Error).name === "AbortError" ? "Export cancelled." : (e as Error).message);
    } finally {
      setExporting(null);
      abort.current = null;
    }
  };

  return (
    <section className="results" aria-label="Results" aria-busy={state.running}>
      {state.running && (
        <p className="alert info" role="status">
          <span className="spinner" aria-hidden="true" /> Running… <button type="button" className="danger small" onClick={onCancel}>Cancel</button>
        </p>
      )}
      {state.error && <p className="alert error" role="alert">{state.error}</p>}
      {r && (
        <>
          <div className="results-head">
            <p className="muted" role="status">
              <strong>{num(r.row_count)}</strong> rows · {num(r.execution_time_ms)} ms{r.cached ? " · from cache" : ""}
              {r.truncated && <span className="warn-text"> · cut at {num(r.row_count)} rows: export for the whole result</span>}
            </p>
            <div role="radiogroup" aria-label="Show results as" className="segmented">
              <button type="button" role="radio" aria-checked={view === "table"} className={view === "table" ? "seg on" : "seg"} onClick={() => setView("table")}>Table</button>
              <button type="button" role="radio" aria-checked={view === "chart"} className={view === "chart" ? "seg on" : "seg"} onClick={() => setView("chart")}>Chart</button>
            </div>
            <div className="row">
              <button type="button" className="secondary small" disabled={!!exporting} onClick={() => void doExport("csv")}>⇩ CSV</button>
              <button type="button" className="secondary small" disabled={!!exporting} onClick={() => void doExport("ndjson")}>⇩ NDJSON</button>
              {exporting && <button type="button" className="danger small" onClick={() => abort.current?.abort()}>Stop export</button>}
            </div>
          </div>
          {exporting && <p className="muted small" role="status">Exporting {exporting.format.toUpperCase()}… {bytes(exporting.bytes)} received</p>}
          {exportMsg && <p className="muted small" role="status">{exportMsg}</p>}
          {r.columns.length === 0 ? <p className="muted">The query returned no columns.</p>
            : view === "table" ? <Grid columns={r.columns} rows={r.rows} /> : <Chart key={r.columns.map((c) => c.name).join("\u0000")} columns={r.columns} rows={r.rows} />}
        </>
      )}
    </section>
  );
}
