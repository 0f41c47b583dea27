import { connect } from "@nats-io/transport-node";
import { NatsTransport as NatsTransportOverAnySocket, type NatsTransportOptions } from "./nats-transport.ts";

export * from "./nats-transport.ts";

/** The NATS transport over TCP (Node's transport); edge entries use nats-ws.ts instead. */
export class NatsTransport extends NatsTransportOverAnySocket {
  static connect(opts: NatsTransportOptions): Promise<NatsTransportOverAnySocket> {
    return NatsTransportOverAnySocket.connectWith(connect, opts);
  }
}
