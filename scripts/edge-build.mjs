// esbuild options of the gateway's edge bundles (dist/edge/worker.js, dist/edge/deno.js), shared by
// scripts/build.mjs and the test that keeps Node built-ins out of the gateway (gateway/src/edge-imports.test.ts).
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith("_")).map((m) => m.replace(/^node:/, "")));

/**
 * The gateway for edge runtimes: one self-contained ES module per runtime (workerd has no
 * node_modules), for platform "neutral" so a Node built-in anywhere in the gateway's graph fails
 * the build. The /docs viewer's files are bundled in as text (gateway/src/docs-assets.ts).
 */
export const EDGE_ENTRIES = {
  "edge/worker": { entry: "gateway/src/worker.ts", conditions: ["workerd", "worker", "browser"] },
  "edge/deno": { entry: "gateway/src/deno.ts", conditions: ["deno", "worker", "browser"] },
};

/** Node built-ins that npm packages in the edge graph name without needing them; see docs/deploy.md. */
export const EDGE_TOLERATED_BUILTINS = {
  // tweetnacl (under @nats-io/nkeys) requires crypto only when there is no Web Crypto (`self.crypto`); workerd and Deno have it.
  // @nats-io/obj's "native" SHA-256 backend, a dynamic import only reached after setSha256Backend("native"), which edge code never calls.
  "node:crypto": /node_modules\/@nats-io\/obj\/|tweetnacl\/nacl-fast\.js$/,
};

/** Options of an edge bundle; tests reuse them to read the import graph (metafile). */
export function edgeBuildOptions(name) {
  const { entry, conditions } = EDGE_ENTRIES[name];
  const swagger = dirname(fileURLToPath(import.meta.resolve("swagger-ui-dist/package.json")));
  return {
    absWorkingDir: root,
    entryPoints: { [name]: join(root, entry) },
    outdir: join(root, "dist"),
    bundle: true,
    platform: "neutral",
    format: "esm",
    target: "es2022",
    conditions,
    mainFields: ["browser", "module", "main"],
    sourcemap: "linked",
    logLevel: "warning",
    metafile: true,
    alias: { "js-sha256": join(root, "libs/storage/src/js-sha256-edge.ts") },
    plugins: [{
      name: "edge",
      setup(b) {
        b.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, (a) => {
          const name = a.path.startsWith("node:") ? a.path : `node:${a.path}`;
          if (!BUILTINS.has(name.slice(5))) return undefined;
          if (EDGE_TOLERATED_BUILTINS[name]?.test(a.importer)) return { path: name, external: true };
          return { errors: [{ text: `${a.importer.slice(root.length + 1)} imports the Node built-in ${a.path}: the edge gateway must use Web-standard APIs only (keep Node code behind gateway/src/node.ts)` }] };
        });
        b.onLoad({ filter: /gateway\/src\/docs-assets\.ts$/ }, () => ({
          loader: "js",
          contents: `export const DOCS_ASSETS = ${JSON.stringify({
            "swagger-ui.css": { body: readFileSync(join(swagger, "swagger-ui.css"), "utf8"), type: "text/css; charset=utf-8" },
            "swagger-ui-bundle.js": { body: readFileSync(join(swagger, "swagger-ui-bundle.js"), "utf8"), type: "application/javascript; charset=utf-8" },
          })};`,
        }));
      },
    }],
  };
}

