import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { build, type BuildOptions, type Metafile } from "esbuild";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
/**
 * The gateway files that run on Node only: its entry, Prometheus metrics, the node-server body guard,
 * the console's files from dist/web, the package's index (it re-exports the Node entry's startGateway),
 * and the query cache's JetStream KV store, its cross-replica claims and its set-up.
 */
const NODE_ONLY = new Set(["node.ts", "main.ts", "metrics.ts", "stream-guard.ts", "console-files.ts", "index.ts", "cache/kv-store.ts", "cache/kv-flight.ts", "cache/open.ts"]);
/** Types only: nothing of them is left in a bundle to check. */
const TYPES_ONLY = new Set(["deps.ts", "cache/store.ts"]);

interface EdgeBuild {
  EDGE_ENTRIES: Record<string, { entry: string }>;
  edgeBuildOptions(name: string): BuildOptions;
}
// A plain-JS build script: loaded by path so the type-check does not need declarations for it.
const edgeBuild = (): Promise<EdgeBuild> => import(join(ROOT, "scripts/edge-build.mjs")) as Promise<EdgeBuild>;

async function graph(name: string, stdin?: string): Promise<Metafile> {
  const { edgeBuildOptions } = await edgeBuild();
  const opts = edgeBuildOptions(name);
  const r = await build({ ...opts, ...(stdin ? { entryPoints: undefined, stdin: { contents: stdin, resolveDir: ROOT, loader: "ts" } } : {}), write: false, logLevel: "silent" });
  return r.metafile!;
}

describe("the gateway on edge runtimes uses Web-standard APIs only", () => {
  it("bundles every edge entry for the neutral platform without a Node built-in from our code", async () => {
    const { EDGE_ENTRIES } = await edgeBuild();
    for (const name of Object.keys(EDGE_ENTRIES)) {
      const meta = await graph(name);
      const ours = Object.entries(meta.inputs).filter(([file]) => !file.includes("node_modules"));
      const builtins = ours.flatMap(([file, input]) => input.imports.filter((i) => i.path.startsWith("node:")).map((i) => `${file} → ${i.path}`));
      expect(builtins, name).toEqual([]);
    }
  });

  it("puts every gateway module but the Node entry's own into an edge graph, so none escapes the check", async () => {
    const { EDGE_ENTRIES } = await edgeBuild();
    const bundled = new Set((await Promise.all(Object.keys(EDGE_ENTRIES).map((name) => graph(name)))).flatMap((meta) => Object.keys(meta.inputs)));
    const modules = readdirSync(join(ROOT, "gateway/src"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts") && !NODE_ONLY.has(f) && !TYPES_ONLY.has(f))
      .map((f) => `gateway/src/${f}`);
    expect(modules.filter((m) => !bundled.has(m))).toEqual([]);
  });

  it("fails the build when gateway code imports a Node built-in", async () => {
    await expect(graph("edge/worker", `import "./gateway/src/app.ts"; import { readFile } from "node:fs/promises"; console.log(readFile);`))
      .rejects.toThrow(/imports the Node built-in node:fs\/promises: the edge gateway must use Web-standard APIs only/);
    await expect(graph("edge/worker", `import { gzipSync } from "zlib"; console.log(gzipSync);`)).rejects.toThrow(/Node built-in zlib/);
  });
});
