import { connectBus, createLogger, parseEnv, replicaId, Shutdown } from "@dsb/runtime";
import { openBlobStore } from "@dsb/storage";
import { startIngestion } from "./index.ts";

/** Standalone ingestion process (distributed mode, or embedded for local runs). */
const env = parseEnv();
const log = createLogger("ingestion", env.LOG_LEVEL);
const shutdown = new Shutdown(log);
const bus = await connectBus(env, "ingestion", log);
shutdown.add("bus", () => bus.close());
const transport = bus.transport as { nc?: import("@nats-io/transport-node").NatsConnection };
const store = await openBlobStore(env, transport.nc);
const service = await startIngestion({ env, bus, log, replicaId: replicaId(env), store });
shutdown.add("ingestion", () => service.stop());
shutdown.listen();
