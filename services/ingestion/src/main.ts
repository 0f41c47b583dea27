import { connectBus, natsConnectionOf, replicaId, serveMetricsFromEnv, Shutdown, startProcess } from "@dsb/runtime";
import { openBlobStore } from "@dsb/storage";
import { startIngestion } from "./index.ts";

/** Standalone ingestion process (distributed mode, or embedded for local runs). */
const { env, log } = startProcess("ingestion");
const shutdown = new Shutdown(log);
try {
  const bus = await connectBus(env, "ingestion", log);
  shutdown.add("bus", () => bus.close());
  const store = await openBlobStore(env, natsConnectionOf(bus));
  const ingestion = await startIngestion({ env, bus, log, replicaId: replicaId(env), store });
  shutdown.add("ingestion", () => ingestion.stop());
  await serveMetricsFromEnv(env, log, shutdown);
  shutdown.listen();
} catch (err) {
  log.fatal({ err }, `❌ ingestion failed to start: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown.run();
  process.exit(1);
}
