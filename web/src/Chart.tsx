import { useEffect, useMemo, useRef, useState } from "react";
import { kindOf } from "./columns.ts";
import { cellText } from "./format.ts";
import type { ColumnMeta } from "./types.ts";

export const CHART_TYPES = ["bar", "line", "scatter"] as const;
type ChartType = (typeof CHART_TYPES)[number];
const MAX_BARS = 60;
const MAX_POINTS = 2000;
const H = 320;
const PAD = { l: 64, r: 16, t: 12, b: 64 };

const asNumber = (v: unknown): number | null => {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
    const d = Date.parse(v);
    return Number.isNaN(d) ? null : d;
  }
  return null;
};

/** About five round tick values across [lo, hi]. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (lo === hi) return [lo];
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
const short = (n: number) => (Math.abs(n) >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : Math.abs(n) >= 1e4 ? `${+(n / 1e3).toFixed(1)}k` : `${+n.toFixed(2)}`);

/** A chart of the result (bar, line, scatter) with x and y picked from its columns; plain SVG. */
export function Chart({ columns, rows }: { columns: ColumnMeta[]; rows: unknown[][] }) {
  const numericCols = columns.map((c, i) => ({ c, i })).filter(({ c }) => kindOf(c.type) === "number");
  const firstText = columns.findIndex((c) => kindOf(c.type) !== "number");
  const [type, setType] = useState<ChartType>("bar");
  const [x, setX] = useState(() => (firstText >= 0 ? firstText : 0));
  const [y, setY] = useState(() => numericCols.find(({ i }) => i !== x)?.i ?? (columns.length > 1 ? 1 : 0));
  const box = useRef<HTMLDivElement>(null);
  const [W, setW] = useState(640);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setW(Math.max(260, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const plot = useMemo(() => {
    const pw = W - PAD.l - PAD.r;
    const ph = H - PAD.t - PAD.b;
    if (type === "bar") {
      const data = rows.slice(0, MAX_BARS).map((r) => ({ label: cellText(r[x]), v: asNumber(r[y]) ?? 0 }));
      const lo = Math.min(0, ...data.map((d) => d.v));
      const hi = Math.max(0, ...data.map((d) => d.v));
      const sy = (v: number) => PAD.t + ph - ((v - lo) / (hi - lo || 1)) * ph;
      const band = pw / Math.max(1, data.length);
      return { kind: "bar" as const, data, sy, band, yt: ticks(lo, hi), cut: rows.length > MAX_BARS };
    }
    const stride = Math.max(1, Math.ceil(rows.length / MAX_POINTS));
    const xNumeric = rows.slice(0, 50).every((r) => asNumber(r[x]) !== null);
    const pts: { px: number; py: number; label: string }[] = [];
    for (let k = 0; k < rows.length; k += stride) {
      const r = rows[k]!;
      const vy = asNumber(r[y]);
      const vx = xNumeric ? asNumber(r[x]) : k;
      if (vy === null || vx === null) continue;
      pts.push({ px: vx, py: vy, label: `${cellText(r[x])}: ${cellText(r[y])}` });
    }
    if (type === "line" && xNumeric) pts.sort((a, b) => a.px - b.px);
    const xs = pts.map((p) => p.px);
    const ys = pts.map((p) => p.py);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const sx = (v: number) => PAD.l + ((v - x0) / (x1 - x0 || 1)) * pw;
    const sy = (v: number) => PAD.t + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
    const isTime = xNumeric && kindOf(columns[x]?.type ?? "") === "temporal";
    return { kind: "xy" as const, pts, sx, sy, yt: pts.length ? ticks(y0, y1) : [], xt: pts.length && xNumeric ? ticks(x0, x1, Math.max(2, Math.floor(pw / 110))) : [], isTime, sampled: stride > 1 };
  }, [rows, x, y, type, W, columns]);

  const xName = columns[x]?.name ?? "";
  const yName = columns[y]?.name ?? "";
  const pick = (id: string, label: string, value: number, set: (n: number) => void) => (
    <label className="inline" htmlFor={id}>{label}
      <select id={id} value={value} onChange={(e) => set(Number(e.target.value))}>
        {columns.map((c, i) => <option key={i} value={i}>{c.name}</option>)}
      </select>
    </label>
  );
  return (
    <div className="chart" ref={box}>
      <div className="row">
        <div role="radiogroup" aria-label="Chart type" className="segmented">
          {CHART_TYPES.map((t) => (
            <button key={t} type="button" role="radio" aria-checked={t === type} className={t === type ? "seg on" : "seg"} onClick={() => setType(t)}>{t}</button>
          ))}
        </div>
        {pick("chart-x", "x", x, setX)}
        {pick("chart-y", "y", y, setY)}
      </div>
      <svg width={W} height={H} role="img" aria-label={`${type} chart of ${yName} by ${xName}`} className="chart-svg">
        <title>{`${type} chart of ${yName} by ${xName}`}</title>
        {plot.yt.map((t) => (
          <g key={t}>
            <line x1={PAD.l} x2={W - PAD.r} y1={plot.sy(t)} y2={plot.sy(t)} className="gridline" />
            <text x={PAD.l - 6} y={plot.sy(t)} className="tick" textAnchor="end" dominantBaseline="middle">{short(t)}</text>
          </g>
        ))}
        {plot.kind === "bar" && plot.data.map((d, i) => {
          const top = plot.sy(Math.max(0, d.v));
          const h = Math.abs(plot.sy(d.v) - plot.sy(0));
          const cx = PAD.l + i * plot.band + plot.band / 2;
          return (
            <g key={i}>
              <rect className="bar" x={PAD.l + i * plot.band + plot.band * 0.1} width={Math.max(1, plot.band * 0.8)} y={top} height={Math.max(0, h)}>
                <title>{`${d.label}: ${d.v}`}</title>
              </rect>
              {(plot.data.length <= 24 || i % Math.ceil(plot.data.length / 24) === 0) && (
                <text className="tick" x={cx} y={H - PAD.b + 14} textAnchor="end" transform={`rotate(-35 ${cx} ${H - PAD.b + 14})`}>
                  {d.label.length > 14 ? `${d.label.slice(0, 13)}…` : d.label}
                </text>
              )}
            </g>
          );
        })}
        {plot.kind === "xy" && (
          <>
            {plot.xt.map((t) => (
              <text key={t} className="tick" x={plot.sx(t)} y={H - PAD.b + 16} textAnchor="middle">
                {plot.isTime ? new Date(t).toISOString().slice(0, 10) : short(t)}
              </text>
            ))}
            {type === "line" && <polyline className="line" fill="none" points={plot.pts.map((p) => `${plot.sx(p.px)},${plot.sy(p.py)}`).join(" ")} />}
            {type === "scatter" && plot.pts.map((p, i) => <circle key={i} className="point" cx={plot.sx(p.px)} cy={plot.sy(p.py)} r={3}><title>{p.label}</title></circle>)}
          </>
        )}
        <line className="axis" x1={PAD.l} x2={PAD.l} y1={PAD.t} y2={H - PAD.b} />
        <line className="axis" x1={PAD.l} x2={W - PAD.r} y1={H - PAD.b} y2={H - PAD.b} />
        <text className="axis-label" x={W / 2} y={H - 6} textAnchor="middle">{xName}</text>
      </svg>
      {plot.kind === "bar" && plot.cut && <p className="muted small">The first {MAX_BARS} rows are drawn; sort or aggregate to choose which.</p>}
      {plot.kind === "xy" && plot.sampled && <p className="muted small">Every {Math.ceil(rows.length / MAX_POINTS)}th row is drawn ({rows.length.toLocaleString()} rows).</p>}
    </div>
  );
}
