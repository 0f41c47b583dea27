import { connectBus, replicaId, serveMetricsFromEnv, Shutdown, startProcess } from "@dsb/runtime";
import { startCatalog } from "./index.ts";

/** Standalone catalog process (distributed mode, or embedded for a quick look). */
const { env, log } = startProcess("catalog");
const shutdown = new Shutdown(log);
try {
  const bus = await connectBus(env, "catalog", log);
  shutdown.add("bus", () => bus.close());
  const catalog = await startCatalog({ env, bus, log, replicaId: replicaId(env) });
  shutdown.add("catalog", () => catalog.stop());
  await serveMetricsFromEnv(env, log, shutdown);
  shutdown.listen();
} catch (err) {
  log.fatal({ err }, `❌ catalog failed to start: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown.run();
  process.exit(1);
}
