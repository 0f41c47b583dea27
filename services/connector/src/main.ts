import { connectBus, replicaId, serveMetricsFromEnv, Shutdown, startProcess } from "@dsb/runtime";
import { startConnector } from "./index.ts";

/** The connector as its own process (distributed mode). */
const { env, log } = startProcess("connector");
const shutdown = new Shutdown(log);
try {
  const bus = await connectBus(env, "connector", log);
  shutdown.add("bus", () => bus.close());
  const connector = await startConnector({ env, bus, log, replicaId: replicaId(env) });
  shutdown.add("connector", () => connector.stop());
  await serveMetricsFromEnv(env, log, shutdown);
  shutdown.listen();
} catch (err) {
  log.fatal({ err }, `❌ connector failed to start: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown.run();
  process.exit(1);
}
