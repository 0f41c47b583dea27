// Builds the web console (web/, React + Vite) into dist/web, which the gateway serves at `/`.
// Skipped when nothing it is built from changed since the last build (a hash kept in
// dist/web/.inputs), so `npm start` stays about a second. Files are written like the bundles:
// changed ones only, atomically, index.html last (it names the hashed assets written before it),
// with a gzipped copy of each script and style sheet beside it.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { writeChanged } from "./write-changed.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const webDir = join(root, "web");
export const WEB_OUT = join(root, "dist", "web");
/** Files outside web/ that the console's bundle includes (the SQL preview compiles with the connector's own code). */
const EXTRA_INPUTS = ["services/connector/src", "libs/contracts/src", "package-lock.json"];

function filesUnder(p) {
  if (!existsSync(p)) return [];
  if (!statSync(p).isDirectory()) return [p];
  return readdirSync(p, { withFileTypes: true })
    .filter((e) => e.name !== "node_modules" && e.name !== "dist")
    .flatMap((e) => filesUnder(join(p, e.name)));
}

function inputsHash() {
  const h = createHash("sha256");
  for (const f of [...filesUnder(webDir), ...EXTRA_INPUTS.flatMap((p) => filesUnder(join(root, p)))].sort()) {
    h.update(relative(root, f)).update("\0").update(readFileSync(f)).update("\0");
  }
  return h.digest("hex");
}

/**
 * Assets of earlier builds go once they are a day old: a page loaded before a rebuild may still
 * fetch its lazy chunks for a while (index.html, re-read on each request, names only current ones).
 */
function pruneOldAssets(current) {
  const dir = join(WEB_OUT, "assets");
  const dayAgo = Date.now() - 86_400_000;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const p = join(dir, name);
    if (!current.has(p) && statSync(p).mtimeMs < dayAgo) rmSync(p, { force: true });
  }
}

/** @param {{ force?: boolean, verbose?: boolean }} [opts] */
export async function buildWeb(opts = {}) {
  const stamp = join(WEB_OUT, ".inputs");
  const hash = inputsHash();
  if (!opts.force && existsSync(join(WEB_OUT, "index.html")) && existsSync(stamp) && readFileSync(stamp, "utf8") === hash) {
    if (opts.verbose) console.log("dist/web: up to date");
    return { built: false };
  }
  // A production build whatever the caller's NODE_ENV (vitest sets "test", which would give React's development build).
  process.env.NODE_ENV = "production";
  // vite as the web workspace resolves it (its own version, its config's plugins).
  const vite = await import(pathToFileURL(createRequire(join(webDir, "package.json")).resolve("vite")).href);
  const out = await vite.build({ root: webDir, configFile: join(webDir, "vite.config.ts"), logLevel: "warn", mode: "production", build: { write: false, outDir: WEB_OUT } });
  const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output);
  const files = outputs.map((o) => ({
    path: join(WEB_OUT, o.fileName),
    contents: o.type === "chunk" ? Buffer.from(o.code) : typeof o.source === "string" ? Buffer.from(o.source) : Buffer.from(o.source),
  }));
  // Precompressed copies: the gateway sends `<asset>.gz` to browsers that accept gzip (a third of the bytes).
  const gz = files.filter((f) => /\.(js|css)$/.test(f.path)).map((f) => ({ path: `${f.path}.gz`, contents: gzipSync(f.contents, { level: 9 }) }));
  files.unshift(...gz);
  const isIndex = (f) => f.path.endsWith("index.html");
  const written = writeChanged([...files.filter((f) => !isIndex(f)), ...files.filter(isIndex)]);
  writeFileSync(stamp, hash);
  pruneOldAssets(new Set(files.map((f) => f.path)));
  if (opts.verbose) console.log(`dist/web: ${written} of ${files.length} files written`);
  return { built: true, files: files.map((f) => relative(WEB_OUT, f.path)) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildWeb({ force: process.argv.includes("--force"), verbose: true });
}
