import { connectBus, replicaId, Shutdown, startProcess } from "@dsb/runtime";
import { startConnector } from "./index.ts";

/** The connector as its own process (distributed mode). */
const { env, log } = startProcess("connector");
const bus = await connectBus(env, "connector", log);
const shutdown = new Shutdown(log);
shutdown.add("bus", () => bus.close());
const connector = await startConnector({ env, bus, log, replicaId: replicaId(env) });
shutdown.add("connector", () => connector.stop());
shutdown.listen();
