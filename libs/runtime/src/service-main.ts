import type { Bus } from "@dsb/bus";
import type { Logger } from "pino";
import { connectBus, replicaId } from "./bus.ts";
import { startProcess } from "./crash.ts";
import type { Env } from "./env.ts";
import { serveMetricsFromEnv } from "./metrics.ts";
import { Shutdown } from "./shutdown.ts";
import { fullGc } from "./idle-gc.ts";

/** What a service's start function gets: the parsed env, its logger, its bus connection and replica id. */
export interface ServiceContext {
  env: Env;
  log: Logger;
  bus: Bus;
  replicaId: string;
}

/**
 * A process entry point (`src/main.ts`): env and logger (crashes logged), the bus, the service,
 * the METRICS_PORT server (unless the service serves /metrics itself), SIGTERM/SIGINT closing
 * them in reverse order; then one collection of what start-up left. A failed start is one fatal
 * line naming the service, and exit 1.
 */
export async function runService(
  name: string,
  start: (ctx: ServiceContext) => Promise<{ stop(): Promise<unknown> }>,
  opts: { metricsPort?: boolean } = {},
): Promise<void> {
  const { env, log } = startProcess(name);
  const shutdown = new Shutdown(log);
  try {
    const bus = await connectBus(env, name, log);
    shutdown.add("bus", () => bus.close());
    const service = await start({ env, log, bus, replicaId: replicaId(env) });
    shutdown.add(name, () => service.stop());
    if (opts.metricsPort !== false) await serveMetricsFromEnv(env, log, shutdown);
    shutdown.listen();
    // What start-up left (module code, schemas, connection set-up) collected now: otherwise the first
    // requests' young collections copy it and the old space grows under them (ingestion's first
    // upload paid ~60 ms of collections that later ones do not).
    fullGc()();
  } catch (err) {
    log.fatal({ err }, `❌ ${name} failed to start: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown.run();
    process.exit(1);
  }
}
