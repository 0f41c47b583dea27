import { coalesceWrites, natsSocket, sendUnpacked } from "./sockets.ts";
import { exactPayloads } from "./nats-payloads.ts";
import { Bus, MemoryTransport, type Transport } from "@dsb/bus";
import type { Logger } from "pino";
import type { Env } from "./env.ts";
import { ds } from "./metrics.ts";

/** One in-process transport per process, so every embedded service shares it. */
let shared: MemoryTransport | undefined;

/** The bus this process uses: NATS when NATS_URL is set, the in-process transport otherwise. */
export async function connectBus(env: Env, name: string, log: Logger): Promise<Bus> {
  let transport: Transport;
  if (env.NATS_URL) {
    const { NatsTransport } = await import("@dsb/bus/nats");
    exactPayloads();
    // Under load, one write per event-loop turn instead of one per message: the syscalls are the cost here.
    const batchWrites = () => {
      const nc = (transport as Transport & { nc?: unknown }).nc;
      const socket = natsSocket(nc);
      if (socket) {
        coalesceWrites(socket, "loop");
        sendUnpacked(nc);
      }
    };
    transport = await NatsTransport.connect({
      servers: env.NATS_URL, name, user: env.NATS_USER, pass: env.NATS_PASS, token: env.NATS_TOKEN,
      onStatus: (s) => {
        if (s.type === "disconnect") log.warn("⚠️ NATS disconnected; reconnecting");
        else if (s.type === "reconnect") {
          batchWrites();
          log.info("✅ NATS reconnected");
        }
      },
    });
    batchWrites();
  } else {
    // A stopped embedded system closed the one before: the next system in this process gets a fresh one.
    if (!shared?.isConnected()) shared = new MemoryTransport();
    transport = shared;
  }
  const served = ds.busRequests();
  return new Bus(transport, { defaultTimeoutMs: env.BUS_TIMEOUT_MS, log, namespace: env.BUS_NAMESPACE, onServed: (subject, status) => served.inc({ subject, status }) });
}

export const replicaId = (env: Env) => env.REPLICA_ID ?? `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** The NATS connection under a bus, for JetStream users (upload store); undefined in embedded mode. */
export function natsConnectionOf(bus: Bus): import("@nats-io/transport-node").NatsConnection | undefined {
  const t = bus.transport as Transport & { nc?: import("@nats-io/transport-node").NatsConnection };
  return t.kind === "nats" ? t.nc : undefined;
}
