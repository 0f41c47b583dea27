import { AppError } from "@dsb/contracts";
import type { EndpointSpec, FanoutHandler, Headers, Served, ServiceSpec, Transport } from "./transport.ts";

export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * In-process transport for the embedded mode: same subjects, same bytes, same
 * payload limit as NATS, so code paths do not fork between modes.
 */
export class MemoryTransport implements Transport {
  readonly kind = "memory" as const;
  private readonly endpoints = new Map<string, EndpointSpec[]>();
  private readonly rr = new Map<string, number>();
  private readonly subs = new Map<string, Set<(d: Uint8Array) => void>>();
  private readonly listeners = new Map<string, Set<FanoutHandler>>();
  private readonly services = new Map<string, number>();
  private closed = false;

  constructor(readonly maxPayload = DEFAULT_MAX_PAYLOAD) {}

  async request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers }): Promise<Uint8Array> {
    if (this.closed) throw new AppError("UNAVAILABLE", "Bus is closed", { retryable: true });
    this.checkSize(subject, data);
    const list = this.endpoints.get(subject);
    if (!list || list.length === 0) throw new AppError("UNAVAILABLE", `No service answers ${subject}`, { retryable: true });
    const i = (this.rr.get(subject) ?? 0) % list.length;
    this.rr.set(subject, i + 1);
    const ep = list[i]!;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AppError("TIMEOUT", `No reply on ${subject} within ${opts.timeoutMs} ms`, { retryable: true })), opts.timeoutMs);
    });
    try {
      // Copy so neither side can see the other's buffer, as on a real wire.
      const { data: reply } = await Promise.race([ep.handler(data.slice(), { ...opts.headers }), timeout]);
      this.checkSize(subject, reply);
      return reply;
    } finally {
      clearTimeout(timer);
    }
  }

  async serve(service: ServiceSpec, endpoints: EndpointSpec[]): Promise<Served> {
    for (const ep of endpoints) {
      const list = this.endpoints.get(ep.subject) ?? [];
      list.push(ep);
      this.endpoints.set(ep.subject, list);
    }
    this.services.set(service.name, (this.services.get(service.name) ?? 0) + 1);
    return {
      stop: async () => {
        for (const ep of endpoints) {
          const list = this.endpoints.get(ep.subject)?.filter((e) => e !== ep) ?? [];
          this.endpoints.set(ep.subject, list);
        }
        this.services.set(service.name, (this.services.get(service.name) ?? 1) - 1);
      },
    };
  }

  async requestFirst(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers }): Promise<Uint8Array | null> {
    if (this.closed) throw new AppError("UNAVAILABLE", "Bus is closed", { retryable: true });
    this.checkSize(subject, data);
    const handlers = [...(this.listeners.get(subject) ?? [])];
    if (handlers.length === 0) return null;
    return new Promise((resolve) => {
      let left = handlers.length;
      const timer = setTimeout(() => resolve(null), opts.timeoutMs);
      for (const h of handlers) {
        h(data.slice(), { ...opts.headers })
          .then((reply) => {
            if (reply) { clearTimeout(timer); resolve(reply.data); }
          }, () => undefined)
          .finally(() => {
            if (--left === 0) { clearTimeout(timer); resolve(null); }
          });
      }
    });
  }

  listen(subject: string, handler: FanoutHandler) {
    const set = this.listeners.get(subject) ?? new Set();
    set.add(handler);
    this.listeners.set(subject, set);
    return { unsubscribe: () => void set.delete(handler) };
  }

  publish(subject: string, data: Uint8Array): void {
    this.checkSize(subject, data);
    for (const h of this.subs.get(subject) ?? []) queueMicrotask(() => h(data.slice()));
  }

  subscribe(subject: string, handler: (data: Uint8Array) => void) {
    const set = this.subs.get(subject) ?? new Set();
    set.add(handler);
    this.subs.set(subject, set);
    return { unsubscribe: () => void set.delete(handler) };
  }

  async ping(service: string): Promise<boolean> {
    return !this.closed && (this.services.get(service) ?? 0) > 0;
  }

  isConnected(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkSize(subject: string, data: Uint8Array) {
    if (data.byteLength > this.maxPayload)
      throw new AppError("INTERNAL", `Message on ${subject} is ${data.byteLength} bytes, over the bus limit of ${this.maxPayload}`);
  }
}
