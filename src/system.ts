import type { Bus } from "@dsb/bus";
import { connectBus, createLogger, natsConnectionOf, recyclePayload, replicaId, serviceLogger, type Env, type Logger } from "@dsb/runtime";
import { startCatalog } from "@dsb/catalog";
import { startConnector } from "@dsb/connector";
import { startIngestion } from "@dsb/ingestion";
import { openBlobStore } from "@dsb/storage";
import { startGateway, type GatewayHandle } from "@dsb/gateway";

export interface System {
  gateway: GatewayHandle;
  bus: Bus;
  stop(): Promise<void>;
}

/**
 * Gateway and the three services in one process, sharing one bus connection:
 * the in-process transport without NATS_URL, NATS with it. Used by `npm start`
 * and by the end-to-end tests.
 */
export async function startSystem(env: Env, log: Logger = createLogger("dsb", env.LOG_LEVEL)): Promise<System> {
  const bus = await connectBus(env, "dsb-all", log);
  const replica = replicaId(env);
  const store = await openBlobStore(env, natsConnectionOf(bus), { recycle: recyclePayload });
  const started: { stop(): Promise<void> }[] = [];
  try {
    started.push(await startCatalog({ env, bus, log: serviceLogger(log, "catalog"), replicaId: replica }));
    started.push(await startConnector({ env, bus, log: serviceLogger(log, "connector"), replicaId: replica }));
    started.push(await startIngestion({ env, bus, log: serviceLogger(log, "ingestion"), replicaId: replica, store }));
    const gateway = await startGateway({ env, bus, log: serviceLogger(log, "gateway"), store });
    return {
      gateway, bus,
      stop: async () => {
        await gateway.stop();
        for (const s of started.reverse()) await s.stop().catch(() => undefined);
        await bus.close();
      },
    };
  } catch (e) {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    await bus.close();
    throw e;
  }
}
