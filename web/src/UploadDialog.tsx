import { useRef, useState } from "react";
import { uploadFile } from "./api.ts";
import { Dialog } from "./Dialog.tsx";
import { bytes, num } from "./format.ts";
import type { Source } from "./types.ts";

const ACCEPT = ".csv,.tsv,.txt,.xlsx,.json,.ndjson,.jsonl,.parquet";

/** Drag and drop (or pick) a file; a progress bar of the bytes sent; then the schema it was parsed into. */
export function UploadDialog({ onClose, onSaved }: { onClose: () => void; onSaved: (s: Source) => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [error, setError] = useState("");
  const [done, setDone] = useState<Source | null>(null);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const abort = useRef<AbortController | null>(null);

  const choose = (f: File | undefined) => {
    if (!f) return;
    setFile(f); setError(""); setDone(null); setProgress(null);
  };
  const start = async () => {
    if (!file) return;
    setError("");
    setProgress({ sent: 0, total: file.size });
    abort.current = new AbortController();
    try {
      const r = (await uploadFile(file, name, (sent, total) => setProgress({ sent, total }), abort.current.signal)) as { data_source: Source };
      setDone(r.data_source);
    } catch (e) {
      setError((e as Error).message);
      setProgress(null);
    } finally {
      abort.current = null;
    }
  };
  const uploading = !!progress && !done && !error;
  const pct = progress && progress.total ? Math.round((progress.sent / progress.total) * 100) : 0;

  return (
    <Dialog title="Upload a file" onClose={() => { abort.current?.abort(); onClose(); }} wide>
      {!done && (
        <>
          <div className={over ? "dropzone over" : "dropzone"}
            onDragOver={(e) => { e.preventDefault(); setOver(true); }}
            onDragLeave={() => setOver(false)}
            onDrop={(e) => { e.preventDefault(); setOver(false); choose(e.dataTransfer.files[0]); }}>
            <p>Drop a CSV, TSV, Excel, JSON, NDJSON or Parquet file here</p>
            <button type="button" className="secondary" onClick={() => input.current?.click()}>or choose a file…</button>
            <input ref={input} type="file" accept={ACCEPT} className="sr-only" aria-label="File to upload" onChange={(e) => choose(e.target.files?.[0])} />
            {file && <p className="chosen"><strong>{file.name}</strong> · {bytes(file.size)}</p>}
          </div>
          <div className="field">
            <label htmlFor="upload-name">Name <span className="muted">(optional)</span></label>
            <input id="upload-name" value={name} onChange={(e) => setName(e.target.value)} placeholder={file?.name ?? ""} />
          </div>
          {progress && (
            <div className="progress-wrap">
              <progress id="upload-progress" max={progress.total || 1} value={progress.sent} aria-label="Upload progress" />
              <span aria-live="polite">{progress.sent >= progress.total ? "Sent; parsing…" : `${pct}% · ${bytes(progress.sent)} of ${bytes(progress.total)}`}</span>
            </div>
          )}
          {error && <p className="alert error" role="alert">{error}</p>}
          <div className="row end">
            <button type="button" className="secondary" onClick={() => { abort.current?.abort(); onClose(); }}>Cancel</button>
            <button type="button" disabled={!file || uploading} onClick={() => void start()}>{uploading ? "Uploading…" : "Upload"}</button>
          </div>
        </>
      )}
      {done && (
        <div className="parsed">
          <p className="alert ok" role="status">✓ {done.name} is ready: {num(done.schema?.total_rows)} rows.</p>
          {done.schema?.tables.map((t) => (
            <div key={t.name}>
              <h3>{t.name} <span className="muted small">{num(t.rowCount)} rows</span></h3>
              <table className="plain">
                <thead><tr><th scope="col">Column</th><th scope="col">Type</th><th scope="col">Nullable</th></tr></thead>
                <tbody>{t.columns.map((c) => <tr key={c.name}><td>{c.name}</td><td className="type">{c.type}</td><td>{c.nullable ? "yes" : "no"}</td></tr>)}</tbody>
              </table>
            </div>
          ))}
          <div className="row end"><button type="button" onClick={() => onSaved(done)}>Open {done.name}</button></div>
        </div>
      )}
    </Dialog>
  );
}
