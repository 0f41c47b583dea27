import { useEffect, useMemo, useState } from "react";
import { api, ApiError } from "./api.ts";
import { Dialog } from "./Dialog.tsx";
import { fieldOfError } from "./field-errors.ts";
import type { DatabaseInfo, FieldInfo, LoginWarning, Source } from "./types.ts";

const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
const LABELS: Record<string, string> = {
  host: "Host", port: "Port", database: "Database", username: "User name", password: "Password", ssl: "SSL",
  connection_string: "Connection string", project_id: "Project id", credentials: "Service-account JSON",
  trust_server_certificate: "Trust the server certificate", private_key: "Private key", ssh: "SSH tunnel",
};
const label = (f: FieldInfo) => LABELS[f.name] ?? f.name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
/** Databases where the read-only guarantee is the login's grants (docs/decisions.md §6). */
const GRANTS_ONLY = new Set(["mssql", "snowflake", "bigquery"]);

type Values = Record<string, string | boolean>;

function initialValues(db: DatabaseInfo): Values {
  const v: Values = {};
  for (const f of db.fields) {
    if (f.type === "boolean") v[f.name] = f.default === true;
    else if (f.name === "ssl") v[f.name] = "";
    else v[f.name] = f.default === undefined || f.default === null ? "" : String(f.default);
  }
  return v;
}

/** The config body from the form: empty fields left out, numbers and JSON parsed. */
function toConfig(db: DatabaseInfo, values: Values, name: string): { config: Record<string, unknown>; errors: Record<string, string> } {
  const config: Record<string, unknown> = { type: db.type };
  const errors: Record<string, string> = {};
  if (name.trim()) config.name = name.trim();
  for (const f of db.fields) {
    const v = values[f.name];
    if (f.type === "boolean") { config[f.name] = v === true; continue; }
    const text = typeof v === "string" ? v.trim() : "";
    if (!text) continue;
    if (f.name === "ssl") config.ssl = { mode: text };
    else if (f.type === "number") {
      const n = Number(text);
      if (!Number.isInteger(n)) errors[f.name] = `${label(f)} must be a whole number`;
      else config[f.name] = n;
    } else if (f.type === "json") {
      try { config[f.name] = JSON.parse(text); } catch { errors[f.name] = `${label(f)} is not valid JSON`; }
    } else config[f.name] = text;
  }
  const hasConnString = typeof config.connection_string === "string";
  for (const f of db.fields) {
    if (f.required && config[f.name] === undefined && !(hasConnString && f.name !== "project_id")) errors[f.name] ??= `${label(f)} is required`;
  }
  return { config, errors };
}

/** UniversalDataSourceModal: type picker, a form generated from GET /api/data/databases, Test, then Save. */
export function ConnectDialog({ onClose, onSaved }: { onClose: () => void; onSaved: (s: Source) => void }) {
  const [dbs, setDbs] = useState<DatabaseInfo[] | null>(null);
  const [type, setType] = useState<string>("");
  const [values, setValues] = useState<Values>({});
  const [name, setName] = useState("");
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState("");
  const [tested, setTested] = useState<string>("");
  const [warnings, setWarnings] = useState<LoginWarning[]>([]);
  const [busy, setBusy] = useState<"" | "test" | "save">("");

  useEffect(() => {
    api<{ databases: DatabaseInfo[] }>("/api/data/databases").then((r) => setDbs(r.databases), (e: Error) => setFormError(e.message));
  }, []);
  const db = useMemo(() => dbs?.find((d) => d.type === type) ?? null, [dbs, type]);
  const pick = (t: string) => {
    const d = dbs?.find((x) => x.type === t);
    setType(t);
    if (d) setValues(initialValues(d));
    setFieldErrors({}); setFormError(""); setTested(""); setWarnings([]);
  };
  const set = (k: string, v: string | boolean) => {
    setValues((old) => ({ ...old, [k]: v }));
    setTested("");
    setFieldErrors(({ [k]: _gone, ...rest }) => rest);
  };

  const submit = async (mode: "test" | "save") => {
    if (!db) return;
    const { config, errors } = toConfig(db, values, name);
    setFieldErrors(errors); setFormError(""); setWarnings([]);
    if (Object.keys(errors).length) return;
    setBusy(mode);
    try {
      if (mode === "test") {
        const { name: _n, ...body } = config;
        const r = await api<{ message: string; latency_ms: number; server_version: string | null; warnings?: LoginWarning[] }>("/api/data/database/test", { method: "POST", json: body });
        setTested(`${r.message} in ${Math.round(r.latency_ms)} ms${r.server_version ? ` — ${r.server_version}` : ""}`);
        setWarnings(r.warnings ?? []);
      } else {
        const r = await api<{ data_source: Source; warning?: string }>("/api/data/database/connect", { method: "POST", json: config });
        onSaved(r.data_source);
      }
    } catch (e) {
      const field = fieldOfError(e, db.fields.map((f) => f.name));
      const msg = (e as Error).message;
      if (field) setFieldErrors({ [field]: msg });
      else setFormError(e instanceof ApiError && e.code === "NETWORK" ? msg : msg);
      setTested("");
    } finally {
      setBusy("");
    }
  };

  return (
    <Dialog title="Connect a database" onClose={onClose} wide>
      {!dbs && !formError && <p className="muted">Loading the supported databases…</p>}
      {dbs && (
        <fieldset className="type-picker">
          <legend>Database type</legend>
          {dbs.map((d) => (
            <label key={d.type} className={d.type === type ? "type-option checked" : "type-option"}>
              <input type="radio" name="db-type" value={d.type} checked={d.type === type} onChange={() => pick(d.type)} />
              {d.label}
            </label>
          ))}
        </fieldset>
      )}
      {db && (
        <form className="form-grid" onSubmit={(e) => { e.preventDefault(); void submit(tested ? "save" : "test"); }} noValidate>
          <div className="field wide">
            <label htmlFor="f-name">Name <span className="muted">(optional)</span></label>
            <input id="f-name" value={name} onChange={(e) => setName(e.target.value)} placeholder={`${db.label} …`} />
          </div>
          {db.fields.map((f) => <Field key={f.name} f={f} value={values[f.name]} error={fieldErrors[f.name]} onChange={(v) => set(f.name, v)} />)}
          {GRANTS_ONLY.has(db.type) && <p className="note wide">{db.label} has no read-only session: connect with a login that has read-only grants.</p>}
          {formError && <p className="alert error wide" role="alert">{formError}</p>}
          {tested && <p className="alert ok wide" role="status">✓ {tested}</p>}
          {warnings.map((w) => <p key={w.code} className="alert warn wide" role="status">⚠ {w.message}</p>)}
          <div className="row end wide">
            <button type="button" className="secondary" onClick={onClose}>Cancel</button>
            <button type="button" className={tested ? "secondary" : undefined} disabled={!!busy} onClick={() => void submit("test")}>
              {busy === "test" ? "Testing…" : "Test connection"}
            </button>
            <button type="button" disabled={!tested || !!busy} title={tested ? undefined : "Test the connection first"} onClick={() => void submit("save")}>
              {busy === "save" ? "Saving…" : "Save"}
            </button>
          </div>
        </form>
      )}
      {!dbs && formError && <p className="alert error" role="alert">{formError}</p>}
    </Dialog>
  );
}

function Field({ f, value, error, onChange }: { f: FieldInfo; value: string | boolean | undefined; error: string | undefined; onChange: (v: string | boolean) => void }) {
  const id = `f-${f.name}`;
  const errId = `${id}-error`;
  const common = { id, "aria-invalid": error ? true : undefined, "aria-describedby": error ? errId : undefined } as const;
  let input: React.ReactNode;
  if (f.type === "boolean") {
    return (
      <div className="field check">
        <label><input type="checkbox" {...common} checked={value === true} onChange={(e) => onChange(e.target.checked)} /> {label(f)}</label>
        {error && <p id={errId} className="field-error" role="alert">{error}</p>}
      </div>
    );
  }
  const text = typeof value === "string" ? value : "";
  if (f.name === "ssl") {
    input = (
      <select {...common} value={text} onChange={(e) => onChange(e.target.value)}>
        <option value="">default (prefer)</option>
        {SSL_MODES.map((m) => <option key={m} value={m}>{m}</option>)}
      </select>
    );
  } else if (f.type === "select") {
    input = <select {...common} value={text} onChange={(e) => onChange(e.target.value)}>{(f.options ?? []).map((o) => <option key={o}>{o}</option>)}</select>;
  } else if (f.type === "json") {
    input = <textarea {...common} rows={4} value={text} spellCheck={false} onChange={(e) => onChange(e.target.value)} placeholder="{ … }" />;
  } else {
    input = (
      <input {...common} type={f.secret ? "password" : f.type === "number" ? "number" : "text"} value={text} autoComplete={f.secret ? "new-password" : "off"}
        placeholder={f.default !== undefined && f.default !== null ? String(f.default) : undefined} onChange={(e) => onChange(e.target.value)} />
    );
  }
  return (
    <div className={f.type === "json" || f.name === "connection_string" ? "field wide" : "field"}>
      <label htmlFor={id}>{label(f)}{f.required ? <span aria-hidden="true"> *</span> : <span className="muted"> (optional)</span>}{f.secret && <span className="muted"> · secret</span>}</label>
      {input}
      {error && <p id={errId} className="field-error" role="alert">{error}</p>}
    </div>
  );
}
