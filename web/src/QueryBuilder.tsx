import { useMemo, useState } from "react";
import { AGG_FNS, filterText, filterValue, kindOf, OP_LABELS, opsFor, type AggFn, type FilterOp } from "./columns.ts";
import { hasSqlPreview, previewSql } from "./sql-preview.ts";
import { tableKey } from "./SchemaBrowser.tsx";
import type { QueryConfig, SchemaTable, Source, SourceSchema } from "./types.ts";

interface FilterRow { column: string; op: FilterOp; text: string }
interface AggRow { fn: AggFn; column: string; as: string }
interface OrderRow { column: string; desc: boolean }
/** The builder's form; `toQueryConfig` turns it into API.md's query_config. */
export interface BuilderState {
  table: string; select: string[]; filters: FilterRow[]; groupBy: string[]; aggregates: AggRow[]; orderBy: OrderRow[]; limit: string;
}

export const emptyBuilder = (schema: SourceSchema | null): BuilderState => ({
  table: schema?.tables[0] ? tableKey(schema.tables[0]) : "", select: [], filters: [], groupBy: [], aggregates: [], orderBy: [], limit: "1000",
});

const aggAlias = (a: AggRow) => a.as.trim() || (a.column && a.column !== "*" ? `${a.fn}_${a.column}` : a.fn);
const findTable = (schema: SourceSchema | null, key: string) => schema?.tables.find((t) => tableKey(t) === key) ?? null;

export function toQueryConfig(s: BuilderState, table: SchemaTable | null): QueryConfig {
  const kinds = new Map((table?.columns ?? []).map((c) => [c.name, kindOf(c.type)]));
  const grouped = s.groupBy.length > 0 || s.aggregates.length > 0;
  const qc: QueryConfig = { table: s.table || undefined };
  if (!grouped && s.select.length) qc.select = s.select;
  const filters = s.filters.filter((f) => f.column).map((f) => ({ column: f.column, op: f.op, value: filterValue(f.op, kinds.get(f.column) ?? "text", f.text) }));
  if (filters.length) qc.filters = filters;
  if (s.groupBy.length) qc.group_by = s.groupBy;
  if (s.aggregates.length) {
    qc.aggregates = s.aggregates.map((a) => ({
      fn: a.fn, ...(a.column && a.column !== "*" ? { column: a.column } : {}), ...(a.as.trim() ? { as: a.as.trim() } : {}),
    }));
  }
  const order = s.orderBy.filter((o) => o.column);
  if (order.length) qc.order_by = order.map((o) => ({ column: o.column, ...(o.desc ? { desc: true } : {}) }));
  const limit = Number(s.limit);
  if (s.limit.trim() && Number.isInteger(limit) && limit >= 0) qc.limit = limit;
  return qc;
}

/** A history entry's query_config back into the form. */
export function builderFromConfig(raw: Record<string, unknown>, schema: SourceSchema | null): BuilderState {
  const qc = raw as QueryConfig;
  const base = emptyBuilder(schema);
  return {
    table: qc.table ?? base.table,
    select: qc.select ?? [],
    filters: (qc.filters ?? []).map((f) => ({ column: f.column, op: f.op, text: f.op === "is_null" ? String(f.value !== false) : filterText(f.value) })),
    groupBy: qc.group_by ?? [],
    aggregates: (qc.aggregates ?? []).map((a) => ({ fn: a.fn, column: a.column ?? "*", as: a.as ?? "" })),
    orderBy: (qc.order_by ?? []).map((o) => ({ column: o.column, desc: !!o.desc })),
    limit: qc.limit === undefined ? "" : String(qc.limit),
  };
}

/** Visual query construction: table, columns, filters, group by, aggregates, order, limit. */
export function QueryBuilder(props: {
  source: Source; schema: SourceSchema | null; state: BuilderState; onChange: (s: BuilderState) => void; running: boolean;
  onRun: (qc: QueryConfig) => void; onCancel: () => void; onOpenSql?: (sql: string, params: unknown[]) => void;
}) {
  const { source, schema, state: s, onChange } = props;
  const table = findTable(schema, s.table);
  const columns = table?.columns ?? [];
  const kinds = useMemo(() => new Map(columns.map((c) => [c.name, kindOf(c.type)])), [columns]);
  const qc = useMemo(() => toQueryConfig(s, table), [s, table]);
  const grouped = s.groupBy.length > 0 || s.aggregates.length > 0;
  const [preview, setPreview] = useState<{ sql: string; params: unknown[] } | null>(null);
  const [previewError, setPreviewError] = useState("");
  const patch = (p: Partial<BuilderState>) => { onChange({ ...s, ...p }); setPreview(null); setPreviewError(""); };
  const setRow = <K extends "filters" | "aggregates" | "orderBy">(k: K, i: number, row: Partial<BuilderState[K][number]>) =>
    patch({ [k]: s[k].map((r, j) => (j === i ? { ...r, ...row } : r)) } as Partial<BuilderState>);
  const dropRow = (k: "filters" | "aggregates" | "orderBy", i: number) => patch({ [k]: s[k].filter((_, j) => j !== i) } as Partial<BuilderState>);
  const orderChoices = [...(grouped ? s.groupBy : columns.map((c) => c.name)), ...s.aggregates.map(aggAlias)];

  const showSql = async () => {
    setPreviewError("");
    try { setPreview(await previewSql(source.db_type ?? "", qc, schema)); } catch (e) { setPreview(null); setPreviewError((e as Error).message); }
  };
  const run = () => { if (!props.running && s.table) props.onRun(qc); };

  if (!schema?.tables.length) return <p className="muted">This source has no tables yet: refresh its schema first.</p>;
  return (
    <form className="builder" onSubmit={(e) => { e.preventDefault(); run(); }}
      onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } }}>
      <div className="builder-grid">
        <div className="field">
          <label htmlFor="qb-table">Table</label>
          <select id="qb-table" value={s.table} onChange={(e) => patch({ ...emptyBuilder(schema), table: e.target.value, limit: s.limit })}>
            {schema.tables.map((t) => <option key={tableKey(t)} value={tableKey(t)}>{tableKey(t)}{t.kind === "view" ? " (view)" : ""}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="qb-limit">Limit</label>
          <input id="qb-limit" type="number" min={0} value={s.limit} onChange={(e) => patch({ limit: e.target.value })} />
        </div>
      </div>

      {!grouped && (
        <fieldset className="chips">
          <legend>Columns <span className="muted small">(none ticked: all)</span></legend>
          {columns.map((c) => (
            <label key={c.name} className="chip">
              <input type="checkbox" checked={s.select.includes(c.name)}
                onChange={(e) => patch({ select: e.target.checked ? [...s.select, c.name] : s.select.filter((x) => x !== c.name) })} />
              {c.name} <span className="type">{c.type}</span>
            </label>
          ))}
        </fieldset>
      )}

      <fieldset className="rows">
        <legend>Filters</legend>
        {s.filters.map((f, i) => {
          const kind = kinds.get(f.column) ?? "text";
          const ops = opsFor(kind);
          return (
            <div className="builder-row" key={i}>
              <select aria-label={`Filter ${i + 1} column`} value={f.column} onChange={(e) => {
                const k = kinds.get(e.target.value) ?? "text";
                setRow("filters", i, { column: e.target.value, op: opsFor(k).includes(f.op) ? f.op : "=" });
              }}>
                {columns.map((c) => <option key={c.name} value={c.name}>{c.name}</option>)}
              </select>
              <select aria-label={`Filter ${i + 1} operator`} value={f.op} onChange={(e) => setRow("filters", i, { op: e.target.value as FilterOp })}>
                {ops.map((o) => <option key={o} value={o}>{OP_LABELS[o]}</option>)}
              </select>
              {f.op === "is_null" ? (
                <select aria-label={`Filter ${i + 1} value`} value={f.text === "false" ? "false" : "true"} onChange={(e) => setRow("filters", i, { text: e.target.value })}>
                  <option value="true">yes (NULL)</option><option value="false">no (has a value)</option>
                </select>
              ) : kind === "boolean" ? (
                <select aria-label={`Filter ${i + 1} value`} value={f.text || "true"} onChange={(e) => setRow("filters", i, { text: e.target.value })}>
                  <option value="true">true</option><option value="false">false</option>
                </select>
              ) : (
                <input aria-label={`Filter ${i + 1} value`} value={f.text} type={kind === "number" && f.op !== "in" ? "number" : "text"}
                  placeholder={f.op === "in" ? "a, b, c" : kind === "temporal" ? "2025-01-31" : "value"} onChange={(e) => setRow("filters", i, { text: e.target.value })} />
              )}
              <button type="button" className="ghost icon" aria-label={`Remove filter ${i + 1}`} onClick={() => dropRow("filters", i)}>✕</button>
            </div>
          );
        })}
        <button type="button" className="secondary small" onClick={() => patch({ filters: [...s.filters, { column: columns[0]?.name ?? "", op: "=", text: "" }] })}>+ Filter</button>
      </fieldset>

      <fieldset className="chips">
        <legend>Group by</legend>
        {columns.map((c) => (
          <label key={c.name} className="chip">
            <input type="checkbox" checked={s.groupBy.includes(c.name)}
              onChange={(e) => patch({ groupBy: e.target.checked ? [...s.groupBy, c.name] : s.groupBy.filter((x) => x !== c.name) })} />
            {c.name}
          </label>
        ))}
      </fieldset>

      <fieldset className="rows">
        <legend>Aggregates</legend>
        {s.aggregates.map((a, i) => (
          <div className="builder-row" key={i}>
            <select aria-label={`Aggregate ${i + 1} function`} value={a.fn} onChange={(e) => setRow("aggregates", i, { fn: e.target.value as AggFn })}>
              {AGG_FNS.map((f) => <option key={f} value={f}>{f}</option>)}
            </select>
            <select aria-label={`Aggregate ${i + 1} column`} value={a.column} onChange={(e) => setRow("aggregates", i, { column: e.target.value })}>
              {a.fn === "count" && <option value="*">* (rows)</option>}
              {columns.filter((c) => a.fn === "count" || a.fn === "min" || a.fn === "max" || kindOf(c.type) === "number")
                .map((c) => <option key={c.name} value={c.name}>{c.name}</option>)}
            </select>
            <input aria-label={`Aggregate ${i + 1} name`} placeholder={aggAlias(a)} value={a.as} onChange={(e) => setRow("aggregates", i, { as: e.target.value })} />
            <button type="button" className="ghost icon" aria-label={`Remove aggregate ${i + 1}`} onClick={() => dropRow("aggregates", i)}>✕</button>
          </div>
        ))}
        <button type="button" className="secondary small" onClick={() => patch({ aggregates: [...s.aggregates, { fn: "count", column: "*", as: "" }] })}>+ Aggregate</button>
      </fieldset>

      <fieldset className="rows">
        <legend>Order by</legend>
        {s.orderBy.map((o, i) => (
          <div className="builder-row" key={i}>
            <select aria-label={`Order ${i + 1} column`} value={o.column} onChange={(e) => setRow("orderBy", i, { column: e.target.value })}>
              {orderChoices.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
            <select aria-label={`Order ${i + 1} direction`} value={o.desc ? "desc" : "asc"} onChange={(e) => setRow("orderBy", i, { desc: e.target.value === "desc" })}>
              <option value="asc">ascending</option><option value="desc">descending</option>
            </select>
            <button type="button" className="ghost icon" aria-label={`Remove order ${i + 1}`} onClick={() => dropRow("orderBy", i)}>✕</button>
          </div>
        ))}
        <button type="button" className="secondary small" onClick={() => patch({ orderBy: [...s.orderBy, { column: orderChoices[0] ?? "", desc: false }] })}>+ Order</button>
      </fieldset>

      <div className="row">
        <button type="submit" disabled={props.running} title="Ctrl+Enter">{props.running ? "Running…" : "▶ Run"}</button>
        {props.running && <button type="button" className="danger" onClick={props.onCancel}>■ Cancel</button>}
        {props.onOpenSql && hasSqlPreview(source.db_type) && <button type="button" className="secondary" onClick={() => void showSql()}>Show SQL</button>}
      </div>
      {previewError && <p className="alert error" role="alert">{previewError}</p>}
      {preview && (
        <div className="sql-preview">
          <pre aria-label="Equivalent SQL"><code>{preview.sql}</code></pre>
          {preview.params.length > 0 && <p className="muted small">Parameters: <code>{JSON.stringify(preview.params)}</code></p>}
          <button type="button" className="secondary small" onClick={() => props.onOpenSql?.(preview.sql, preview.params)}>Open in SQL editor</button>
        </div>
      )}
      <details className="qc-json"><summary>query_config</summary><pre><code>{JSON.stringify(qc, null, 2)}</code></pre></details>
    </form>
  );
}
