import type { ErrorCode } from "@dsb/contracts";

/** Headers that travel with every request; `x-request-id` ties logs across services. */
export type Headers = Record<string, string>;

/**
 * A handler's answer. `error` (the stable code) marks an error reply: NATS sends it with the
 * micro-service error headers (`Nats-Service-Error-Code`: the code's HTTP status,
 * `Nats-Service-Error`: the code), as `@nats-io/services` does; the body is the same envelope.
 */
export interface Reply { data: Uint8Array; error?: ErrorCode }

export type RawHandler = (data: Uint8Array, headers: Headers) => Promise<Reply>;

/** A handler of a fanout subject: null means "not mine", and nothing is sent back. */
export type FanoutHandler = (data: Uint8Array, headers: Headers) => Promise<Reply | null>;

export interface EndpointSpec {
  /** Name shown in `$SRV` info/stats ([-\w]+). */
  name: string;
  subject: string;
  handler: RawHandler;
  /** Per-replica subjects are served without a queue group (only this replica listens). */
  queue?: boolean;
}

export interface ServiceSpec {
  name: string;
  version: string;
  description?: string;
  metadata?: Record<string, string>;
}

export interface Served {
  stop(): Promise<void>;
}

/**
 * What the bus needs from a wire: NATS in distributed mode, an in-process
 * dispatcher in embedded mode. Both move the same encoded bytes.
 */
export interface Transport {
  readonly kind: "nats" | "memory";
  /** Largest message the wire takes (NATS max_payload). */
  readonly maxPayload: number;
  /** `service`: the name of the service serving the subject, for a transport that checks who may hold a silent request. */
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers; service?: string }): Promise<Uint8Array>;
  serve(service: ServiceSpec, endpoints: EndpointSpec[]): Promise<Served>;
  /**
   * Asks every listener of a fanout subject; resolves with the first answer, or null when none
   * answers within the timeout (or every listener declined).
   */
  requestFirst(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers }): Promise<Uint8Array | null>;
  /** Listens on a fanout subject, without a queue group: every replica hears each request. */
  listen(subject: string, handler: FanoutHandler): { unsubscribe(): void };
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: (data: Uint8Array) => void): { unsubscribe(): void };
  /** True when at least one instance of the service answers a ping. */
  ping(service: string, timeoutMs: number): Promise<boolean>;
  /** True while the wire is connected. */
  isConnected(): boolean;
  close(): Promise<void>;
}
