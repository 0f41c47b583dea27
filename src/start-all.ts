import { Shutdown, startProcess } from "@dsb/runtime";
import { startSystem } from "./system.ts";

/** `npm start`: everything in one process with embedded defaults. */
async function main() {
  const { env, log } = startProcess("dsb");
  const system = await startSystem(env, log);
  const shutdown = new Shutdown(log);
  shutdown.add("system", () => system.stop());
  shutdown.listen();
  const port = system.gateway.port;
  console.log(`Try it:\n  open http://localhost:${port}/            (the web console; it offers the sample token)\n  curl -H "Authorization: Bearer <token>" http://localhost:${port}/api/data/sources\n  open http://localhost:${port}/docs\n`);
}

// A failure to start is one JSON log line (startProcess's crash handler).
await main();
