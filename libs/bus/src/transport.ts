/** Headers that travel with every request; `x-request-id` ties logs across services. */
export type Headers = Record<string, string>;

export type RawHandler = (data: Uint8Array, headers: Headers) => Promise<Uint8Array>;

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
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers }): Promise<Uint8Array>;
  serve(service: ServiceSpec, endpoints: EndpointSpec[]): Promise<Served>;
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: (data: Uint8Array) => void): { unsubscribe(): void };
  /** True when at least one instance of the service answers a ping. */
  ping(service: string, timeoutMs: number): Promise<boolean>;
  /** True while the wire is connected. */
  isConnected(): boolean;
  close(): Promise<void>;
}
