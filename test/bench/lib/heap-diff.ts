/**
 * Compares two V8 heap snapshots (from `--heapsnapshot-signal`, which collects garbage first):
 * `tsx test/bench/lib/heap-diff.ts before.heapsnapshot after.heapsnapshot [--top N]` prints live
 * objects and bytes by constructor (other node kinds by kind) and the largest growth, so a Map,
 * cache or registry that keeps something per request shows up as a count that grew with the load.
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface Tally { count: number; bytes: number }

/** Live objects by constructor name ("(string)", "(code)"… for the other kinds). */
export function tally(file: string): Map<string, Tally> {
  const s = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const kinds = s.snapshot.meta.node_types[0];
  const [ti, ni, si] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, Tally>();
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const kind = kinds[s.nodes[i + ti]!]!;
    const key = kind === "object" || kind === "closure" ? `${s.strings[s.nodes[i + ni]!]}${kind === "closure" ? "()" : ""}` : `(${kind})`;
    const t = out.get(key) ?? { count: 0, bytes: 0 };
    t.count++;
    t.bytes += s.nodes[i + si]!;
    out.set(key, t);
  }
  return out;
}

export function totals(t: Map<string, Tally>): Tally {
  let count = 0, bytes = 0;
  for (const v of t.values()) { count += v.count; bytes += v.bytes; }
  return { count, bytes };
}

/** Lines describing the growth from `a` to `b`, largest byte growth first. */
export function diff(a: Map<string, Tally>, b: Map<string, Tally>, top = 20): string[] {
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => {
    const x = a.get(k) ?? { count: 0, bytes: 0 }, y = b.get(k) ?? { count: 0, bytes: 0 };
    return { k, dc: y.count - x.count, db: y.bytes - x.bytes, y };
  }).sort((p, q) => Math.abs(q.db) - Math.abs(p.db) || Math.abs(q.dc) - Math.abs(p.dc));
  const ta = totals(a), tb = totals(b);
  const mb = (n: number) => (n / 1048576).toFixed(2);
  return [
    `live heap ${mb(ta.bytes)} → ${mb(tb.bytes)} MiB, objects ${ta.count} → ${tb.count}`,
    ...rows.slice(0, top).map((r) => `  ${r.k.slice(0, 48).padEnd(48)} ${String(r.dc >= 0 ? `+${r.dc}` : r.dc).padStart(8)} objects ${(r.db >= 0 ? "+" : "") + (r.db / 1024).toFixed(1)} KiB (now ${r.y.count})`),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--top");
  const [before, after] = args.filter((a) => a.endsWith(".heapsnapshot"));
  if (!before || !after) throw new Error("usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [--top N]");
  for (const line of diff(tally(before), tally(after), at >= 0 ? Number(args[at + 1]) : 20)) console.log(line);
}
