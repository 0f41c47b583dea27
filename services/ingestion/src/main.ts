import { connectBus, replicaId, Shutdown, startProcess } from "@dsb/runtime";
import { openBlobStore } from "@dsb/storage";
import { startIngestion } from "./index.ts";

/** Standalone ingestion process (distributed mode, or embedded for local runs). */
const { env, log } = startProcess("ingestion");
const shutdown = new Shutdown(log);
const bus = await connectBus(env, "ingestion", log);
shutdown.add("bus", () => bus.close());
const transport = bus.transport as { nc?: import("@nats-io/transport-node").NatsConnection };
const store = await openBlobStore(env, transport.nc);
const service = await startIngestion({ env, bus, log, replicaId: replicaId(env), store });
shutdown.add("ingestion", () => service.stop());
shutdown.listen();
