// Bundles each deployable into dist/ (plain ESM JavaScript, run with `node dist/<name>.js`):
// no TypeScript loader at run time, which costs every process ~40 MiB of resident memory (its
// module-hook worker thread) and per-call overhead on hot paths. Workspace packages (@dsb/*) are
// bundled in; npm packages stay in node_modules. `node scripts/build.mjs` takes about a second.
import { build } from "esbuild";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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

// Only changed files are written, each atomically (temp file + rename), and nothing is deleted:
// processes already running from dist/ (a test cluster while another test runs `npm start`)
// never see a half-written or vanished chunk when they import one lazily.
let written = 0;
for (const f of result.outputFiles) {
  let same = false;
  try { same = Buffer.compare(readFileSync(f.path), f.contents) === 0; } catch { /* new file */ }
  if (same) continue;
  mkdirSync(dirname(f.path), { recursive: true });
  const tmp = `${f.path}.${process.pid}.tmp`;
  writeFileSync(tmp, f.contents);
  renameSync(tmp, f.path);
  written++;
}
if (process.argv.includes("--verbose")) console.log(`dist: ${written} of ${result.outputFiles.length} files written`);
