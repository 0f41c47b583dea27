import type { Round, Row } from "./scenario.ts";

export interface TableRow {
  scenario: string;
  measure: string;
  unit: string;
  system: number | null;
  baseline: number | null;
  baselineName: string;
  ratio: number | null;
  target: string;
  pass: boolean | null;
}

export function tableRows(scenario: string, rows: Row[], medians: Round): TableRow[] {
  return rows.map((r) => {
    const s = medians[r.system];
    const b = r.baseline ? medians[r.baseline] : undefined;
    const have = s !== undefined && !Number.isNaN(s) && (!r.baseline || (b !== undefined && !Number.isNaN(b)));
    const ratio = have ? (r.target ? r.target.ratio(s!, b ?? Number.NaN) : b !== undefined ? s! / b : null) : null;
    return {
      scenario, measure: r.label, unit: r.unit, system: s ?? null, baseline: b ?? null, baselineName: r.baselineName ?? "",
      ratio, target: r.target?.text ?? "",
      // A target whose system figure is missing (the system failed it) is a failure, not a blank.
      pass: !r.target ? null : ratio !== null ? r.target.pass(ratio) : s === undefined || Number.isNaN(s) ? false : null,
    };
  });
}

const num = (v: number | null) => (v === null || Number.isNaN(v) ? "—" : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const verdict = (p: boolean | null) => (p === null ? "" : p ? "PASS" : "FAIL");

function cells(t: TableRow[]): string[][] {
  return t.map((r) => [r.scenario, r.measure, `${num(r.system)} ${r.unit}`, r.baseline === null ? "" : `${num(r.baseline)} ${r.unit} (${r.baselineName})`, num(r.ratio), r.target, verdict(r.pass)]);
}
const HEAD = ["scenario", "measure", "system (median)", "baseline (median)", "ratio", "target", ""];

export function printTable(t: TableRow[]): void {
  const all = [HEAD, ...cells(t)];
  const w = HEAD.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  for (const [i, r] of all.entries()) {
    console.log(r.map((c, j) => c.padEnd(w[j]!)).join("  ").trimEnd());
    if (i === 0) console.log(w.map((n) => "-".repeat(n)).join("  "));
  }
}

export function toMarkdown(t: TableRow[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [`| ${HEAD.join(" | ")} |`, `|${HEAD.map(() => "---").join("|")}|`, ...cells(t).map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n");
}
