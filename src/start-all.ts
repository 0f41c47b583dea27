import { createLogger, EnvError, parseEnv, Shutdown } from "@dsb/runtime";
import { startSystem } from "./system.ts";

/** `npm start`: everything in one process with embedded defaults. */
async function main() {
  const env = parseEnv();
  const log = createLogger("dsb", env.LOG_LEVEL);
  const system = await startSystem(env, log);
  const shutdown = new Shutdown(log);
  shutdown.add("system", () => system.stop());
  shutdown.listen();
  const port = system.gateway.port;
  console.log(`Try it:\n  curl -H "Authorization: Bearer <token>" http://localhost:${port}/api/data/sources\n  open http://localhost:${port}/docs\n`);
}

main().catch((e) => {
  console.error(e instanceof EnvError ? e.message : e);
  process.exit(1);
});
