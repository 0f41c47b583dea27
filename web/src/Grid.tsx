import { useEffect, useMemo, useRef, useState } from "react";
import { kindOf } from "./columns.ts";
import { cellText } from "./format.ts";
import type { ColumnMeta } from "./types.ts";

const OVERSCAN = 12;

/** Column widths from the header and a sample of rows (ch-based, clamped), so 100,000 rows need no measuring. */
function widthsOf(columns: ColumnMeta[], rows: unknown[][], px: number): number[] {
  return columns.map((c, i) => {
    let chars = Math.max(c.name.length, c.type.length + 2);
    // The first and the last rows: ids and counters are widest at the end.
    for (const r of [...rows.slice(0, 150), ...rows.slice(-50)]) chars = Math.max(chars, cellText(r[i]).length);
    return Math.round(Math.min(Math.max(chars * px * 0.62 + px * 1.4, px * 5), px * 26));
  });
}

/**
 * A virtualised result grid: only the rows in view (plus a margin) are in the DOM, positioned in
 * a spacer as tall as all rows, so scrolling 100,000 rows costs what scrolling 50 does.
 */
export function Grid({ columns, rows }: { columns: ColumnMeta[]; rows: unknown[][] }) {
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 480 });
  const [fontPx, setFontPx] = useState(16);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    // The root font size follows the viewport (styles.css), so rows and columns are re-sized with it.
    const measure = () => {
      setFontPx(parseFloat(getComputedStyle(el).fontSize) || 16);
      setView((v) => ({ ...v, height: el.clientHeight }));
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const rowH = Math.round(fontPx * 1.9);
  const widths = useMemo(() => widthsOf(columns, rows, fontPx), [columns, rows, fontPx]);
  const numeric = useMemo(() => columns.map((c) => kindOf(c.type) === "number"), [columns]);
  const template = widths.map((w) => `${w}px`).join(" ");
  const total = widths.reduce((a, b) => a + b, 0);
  const first = Math.max(0, Math.floor(view.top / rowH) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((view.top + view.height) / rowH) + OVERSCAN);

  const visible: React.ReactNode[] = [];
  for (let r = first; r < last; r++) {
    const row = rows[r]!;
    visible.push(
      <div role="row" aria-rowindex={r + 2} key={r} className={r % 2 ? "grid-row odd" : "grid-row"}
        style={{ top: r * rowH, height: rowH, gridTemplateColumns: template }}>
        {columns.map((_, i) => {
          const v = row[i];
          return (
            <div role="gridcell" key={i} className={v === null || v === undefined ? "cell null" : numeric[i] ? "cell num" : "cell"}>
              {v === null || v === undefined ? "NULL" : cellText(v)}
            </div>
          );
        })}
      </div>,
    );
  }
  return (
    <div ref={box} className="grid" role="grid" style={{ height: Math.ceil((rows.length + 1.3) * rowH) + 2 }} aria-label="Query results" aria-rowcount={rows.length + 1} aria-colcount={columns.length}
      tabIndex={0} onScroll={(e) => { const t = e.currentTarget.scrollTop; setView((v) => (v.top === t ? v : { ...v, top: t })); }}>
      <div className="grid-inner" style={{ width: total }}>
        <div role="row" aria-rowindex={1} className="grid-head" style={{ height: rowH * 1.3, gridTemplateColumns: template }}>
          {columns.map((c, i) => (
            <div role="columnheader" key={i} className={numeric[i] ? "cell num" : "cell"} title={`${c.name} (${c.type})`}>
              <span className="col-name">{c.name}</span><span className="type">{c.type}</span>
            </div>
          ))}
        </div>
        <div className="grid-body" style={{ height: rows.length * rowH }}>{visible}</div>
      </div>
    </div>
  );
}
