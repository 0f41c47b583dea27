import { connect, headers as natsHeaders, errors as natsErrors, type NatsConnection, type ConnectionOptions } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";
import { AppError } from "@dsb/contracts";
import type { EndpointSpec, Headers, Served, ServiceSpec, Transport } from "./transport.ts";

export interface NatsTransportOptions {
  servers: string;
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Called on connection status changes (disconnect, reconnect) for logs and metrics. */
  onStatus?: (status: { type: string; data?: unknown }) => void;
}

/** Builds connection options from a URL that may carry user:pass@ and several comma-separated servers. */
export function natsConnectionOptions(opts: NatsTransportOptions): ConnectionOptions {
  const servers = opts.servers.split(",").map((s) => s.trim()).filter(Boolean);
  let user = opts.user;
  let pass = opts.pass;
  const plain = servers.map((s) => {
    try {
      const u = new URL(s.includes("://") ? s : `nats://${s}`);
      if (u.username && !user) { user = decodeURIComponent(u.username); pass = decodeURIComponent(u.password); }
      return `${u.hostname}:${u.port || 4222}`;
    } catch { return s; }
  });
  return {
    servers: plain, name: opts.name, user, pass, token: opts.token,
    // A per-user reply inbox: deploy/nats.conf lets each user subscribe only to its own, so no
    // service can read replies meant for another (e.g. the decrypted configs sent to the connector).
    ...(user && /^[\w-]+$/.test(user) ? { inboxPrefix: `_INBOX_${user}` } : {}),
    // Never give up: a NATS restart must not require a process restart.
    maxReconnectAttempts: -1, reconnectTimeWait: 250, reconnectJitter: 100, pingInterval: 10_000, waitOnFirstConnect: true,
  };
}

export class NatsTransport implements Transport {
  readonly kind = "nats" as const;
  private connected = true;
  private constructor(readonly nc: NatsConnection, private readonly onStatus?: NatsTransportOptions["onStatus"]) {
    void this.watch();
  }

  static async connect(opts: NatsTransportOptions): Promise<NatsTransport> {
    const nc = await connect(natsConnectionOptions(opts));
    return new NatsTransport(nc, opts.onStatus);
  }

  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  private async watch() {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect" || s.type === "staleConnection") this.connected = false;
      else if (s.type === "reconnect") this.connected = true;
      this.onStatus?.({ type: s.type, data: "server" in s ? s.server : undefined });
    }
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  async request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers }): Promise<Uint8Array> {
    // Fail fast during an outage instead of queueing until the timeout.
    if (!this.isConnected()) throw new AppError("UNAVAILABLE", "Message bus is unavailable; retry shortly", { retryable: true });
    const h = natsHeaders();
    for (const [k, v] of Object.entries(opts.headers)) h.set(k, v);
    try {
      const msg = await this.nc.request(subject, data, { timeout: opts.timeoutMs, headers: h });
      return msg.data;
    } catch (e) {
      throw this.mapError(subject, opts.timeoutMs, e);
    }
  }

  private mapError(subject: string, timeoutMs: number, e: unknown): AppError {
    if (e instanceof natsErrors.RequestError && e.isNoResponders())
      return new AppError("UNAVAILABLE", `No service answers ${subject}; is it running?`, { retryable: true });
    if (e instanceof natsErrors.TimeoutError || (e instanceof Error && e.cause instanceof natsErrors.TimeoutError))
      return this.isConnected()
        ? new AppError("TIMEOUT", `No reply on ${subject} within ${timeoutMs} ms`, { retryable: true })
        : new AppError("UNAVAILABLE", "Message bus is unavailable; retry shortly", { retryable: true });
    // A refused publish rejects the request with a RequestError whose cause is the violation.
    if (e instanceof natsErrors.PermissionViolationError || (e instanceof Error && e.cause instanceof natsErrors.PermissionViolationError))
      return new AppError("FORBIDDEN", `This service may not call ${subject}`);
    if (e instanceof natsErrors.ClosedConnectionError || e instanceof natsErrors.DrainingConnectionError || e instanceof natsErrors.ConnectionError)
      return new AppError("UNAVAILABLE", "Message bus is unavailable; retry shortly", { retryable: true });
    return new AppError("UNAVAILABLE", `Bus request on ${subject} failed: ${e instanceof Error ? e.message : String(e)}`, { retryable: true });
  }

  async serve(service: ServiceSpec, endpoints: EndpointSpec[]): Promise<Served> {
    // @nats-io/services pins an older nats-core; the connection is the same at run time.
    const svc = await new Svcm(this.nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
      name: service.name, version: service.version, description: service.description ?? "", metadata: service.metadata ?? {}, queue: service.name,
    });
    for (const ep of endpoints) {
      svc.addEndpoint(ep.name, {
        subject: ep.subject,
        ...(ep.queue === false ? { queue: "" } : {}),
        handler: (err, msg) => {
          if (err) return;
          const hdrs: Headers = {};
          if (msg.headers) for (const [k, v] of msg.headers) hdrs[k] = v[0] ?? "";
          ep.handler(msg.data, hdrs).then(
            (reply) => msg.respond(reply),
            () => msg.respondError(500, "handler failed"),
          );
        },
      });
    }
    // Make sure the server has the subscriptions before anyone is told we are up.
    await this.nc.flush();
    return { stop: async () => { await svc.stop(); } };
  }

  publish(subject: string, data: Uint8Array): void {
    if (!this.nc.isClosed()) this.nc.publish(subject, data);
  }

  subscribe(subject: string, handler: (data: Uint8Array) => void) {
    const sub = this.nc.subscribe(subject, { callback: (err, msg) => { if (!err) handler(msg.data); } });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async ping(service: string, timeoutMs: number): Promise<boolean> {
    if (!this.isConnected()) return false;
    try {
      await this.nc.request(`$SRV.PING.${service}`, undefined, { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
