/**
 * Summarises V8 .cpuprofile files (from BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"):
 * `tsx test/bench/lib/profile-summary.ts <file.cpuprofile>... [--top N]` prints busy time and
 * the heaviest functions by self time and by inclusive time.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const files = args.filter((a, i) => a.endsWith(".cpuprofile") && (topAt < 0 || i !== topAt + 1));

for (const file of files) {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const label = (n: Node) => {
    const url = n.callFrame.url.replace(/^file:\/\//, "");
    return `${n.callFrame.functionName || "(anonymous)"} ${url ? relative(process.cwd(), url) : ""}:${n.callFrame.lineNumber + 1}`;
  };
  const selfBy = new Map<string, number>();
  const inclBy = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    total += us;
    if (n.callFrame.functionName === "(idle)") { idle += us; continue; }
    selfBy.set(label(n), (selfBy.get(label(n)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclBy.set(l, (inclBy.get(l) ?? 0) + us);
    }
  }
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  console.log(`\n=== ${file}\nwall ${ms(total)}, busy ${ms(total - idle)}`);
  console.log("-- self");
  for (const [l, us] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)}  ${l}`);
  console.log("-- inclusive");
  for (const [l, us] of [...inclBy].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)}  ${l}`);
}
