import { wsconnect } from "@nats-io/nats-core";
import { NatsTransport, type NatsTransportOptions } from "./nats-transport.ts";

export * from "./nats-transport.ts";

/**
 * The NATS transport over WebSocket (nats-core's `wsconnect`, the Web `WebSocket`):
 * for the gateway on workerd and Deno, which have no TCP client. NATS_URL is
 * `ws://host:port` or `wss://host:port`, served by a `websocket { }` block in nats.conf.
 */
export function connectNatsWebSocket(opts: NatsTransportOptions): Promise<NatsTransport> {
  return NatsTransport.connectWith(wsconnect, opts);
}
