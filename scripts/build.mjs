// Bundles each deployable into dist/ (plain ESM JavaScript, run with `node dist/<name>.js`):
// no TypeScript loader at run time, which costs every process ~40 MiB of resident memory (its
// module-hook worker thread) and per-call overhead on hot paths. Workspace packages (@dsb/*) are
// bundled in; npm packages stay in node_modules. `node scripts/build.mjs` takes about a second, plus
// the console's vite build (dist/web, scripts/build-web.mjs) when web/ changed.
import { build } from "esbuild";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { buildWeb } from "./build-web.mjs";
import { writeChanged } from "./write-changed.mjs";
import { EDGE_ENTRIES, edgeBuildOptions } from "./edge-build.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** dist/<key>.js ← source entry. */
export const ENTRIES = {
  "start-all": "src/start-all.ts",
  gateway: "gateway/src/main.ts",
  catalog: "services/catalog/src/main.ts",
  connector: "services/connector/src/main.ts",
  ingestion: "services/ingestion/src/main.ts",
  "rotate-keys": "services/catalog/src/rotate-keys.ts",
  healthcheck: "deploy/healthcheck.ts",
  // The variable names scripts/workerd.mjs hands to the Worker.
  "edge/env-schema": "libs/runtime/src/env.ts",
};

const result = await build({
  write: false,
  absWorkingDir: root,
  entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([k, v]) => [k, join(root, v)])),
  outdir: join(root, "dist"),
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
  plugins: [{
    name: "npm-packages-external",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (a) => (a.path.startsWith("@dsb/") ? undefined : { path: a.path, external: true }));
    },
  }],
});

// The gateway for workerd and Deno: self-contained ES modules (scripts/edge-build.mjs).
const edgeResults = await Promise.all(Object.keys(EDGE_ENTRIES).map((name) => build({ ...edgeBuildOptions(name), write: false })));
const outputs = [result, ...edgeResults].flatMap((r) => r.outputFiles);
const written = writeChanged(outputs);
if (process.argv.includes("--verbose")) console.log(`dist: ${written} of ${outputs.length} files written`);

// The web console (vite) into dist/web, skipped when its sources have not changed.
await buildWeb({ verbose: process.argv.includes("--verbose") });
