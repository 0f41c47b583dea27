// Serves the gateway's Worker bundle (dist/edge/worker.js) with workerd: writes a config next to it
// and runs `workerd serve`. Variables are the Node gateway's, passed as `fromEnvironment` bindings,
// so no secret is written to the config file. PORT and HOST choose the listening socket.
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist/edge");
/** Every variable the gateway reads (libs/runtime/src/env.ts); those set are handed to the Worker. */
const { EnvSchema } = await import(join(root, "dist/edge/env-schema.js"));
const names = Object.keys(EnvSchema.shape).filter((k) => process.env[k] !== undefined);
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? "0.0.0.0";

/** The compatibility date the Worker is written against (see docs/deploy.md). */
export const COMPATIBILITY_DATE = "2025-09-01";

const bindings = [
  `(name = "GATEWAY", durableObjectNamespace = "Gateway")`,
  ...names.map((k) => `(name = "${k}", fromEnvironment = "${k}")`),
];
const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "gateway", worker = .gateway),
    # NATS and a JWKS may live on this host or a private network: the default outbound is public only.
    (name = "outbound", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "${host}:${port}", http = (), service = "gateway") ],
);
const gateway :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  globalOutbound = "outbound",
  durableObjectNamespaces = [ (className = "Gateway", uniqueKey = "dsb-gateway") ],
  durableObjectStorage = (inMemory = void),
  bindings = [ ${bindings.join(", ")} ],
);
`;
const file = join(dist, `workerd.${process.pid}.capnp`);
writeFileSync(file, config);
const bin = join(dirname(createRequire(import.meta.url).resolve("workerd/package.json")), "bin/workerd");
const child = spawn(bin, ["serve", file], { stdio: "inherit" });
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  rmSync(file, { force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
