import {
  createInbox, Empty, headers as natsHeaders, errors as natsErrors,
  type ConnectionOptions, type Msg, type MsgHdrs, type NatsConnection, type Subscription,
} from "@nats-io/nats-core";
import { ServiceErrorCodeHeader, ServiceErrorHeader, Svcm } from "@nats-io/services";
import { AppError, ERROR_STATUS, ErrorCodeSchema, SERVICES } from "@dsb/contracts";
import type { EndpointSpec, FanoutHandler, Headers, Reply, Served, ServiceSpec, Transport } from "./transport.ts";
import { ReplicaWatch, serviceOfReplica } from "./replica-watch.ts";

/** Opens the connection: transport-node's `connect` (TCP) on Node, nats-core's `wsconnect` on edge runtimes. */
export type NatsConnect = (opts: ConnectionOptions) => Promise<NatsConnection>;

/** Runs `f` after the events already queued: setImmediate where there is one (Node, Deno), a zero timeout elsewhere (workerd). */
const afterQueuedEvents: (f: () => void) => void = (globalThis as { setImmediate?: (f: () => void) => void }).setImmediate ?? ((f) => void setTimeout(f, 0));

export interface NatsTransportOptions {
  servers: string;
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Called on connection status changes (disconnect, reconnect) for logs and metrics. */
  onStatus?: (status: { type: string; data?: unknown }) => void;
  /** How often a busy handler tells its requester it is still working (default 1000 ms). */
  heartbeatMs?: number;
}

/**
 * Liveness of in-flight requests. A request carries `Dsb-Heartbeat-Ms` (the interval) and
 * `Dsb-Heartbeat-To` (where to send them); while its handler runs, the serving replica publishes an
 * empty message with `Dsb-Heartbeat: 1` there every interval, naming itself in
 * `Dsb-Heartbeat-Replica` (`<service>.<id>` of `$SRV`). Handlers that answer within one interval
 * send none. After MISSED_HEARTBEATS intervals of silence the requester asks nats-server whether
 * the replica is still subscribed: a ping to `$SRV.PING.<service>.<id>` that comes back "no
 * responders" means it died (kill -9, lost connection), and the request fails with UNAVAILABLE in
 * seconds rather than at its timeout, which for a query or a parse can be many minutes. Any other
 * outcome means it is alive but late: an overloaded replica's heartbeats lag with its event loop,
 * and calling it dead then answered 503 under load while it was still working (a stalled one is
 * left to the request's deadline). A request silent before its first heartbeat may be on any
 * replica: it fails when the service is gone, or when a replica of the service that was alive
 * when the request was sent (heard of in heartbeats, or in the `$SRV.PING.<service>` answers a
 * requester collects every MEMBERSHIP_MS while it calls the service) is found gone.
 *
 * Heartbeats go to `<inboxPrefix>.hb.<id>.<token>`, not to the reply subject: deploy/nats.conf
 * lets a service answer a request once (`allow_responses`), and granting many answers per request
 * would make nats-server keep (and scan) a reply permission per request for its whole expiry.
 */
export const HEARTBEAT_MS_HEADER = "Dsb-Heartbeat-Ms";
export const HEARTBEAT_TO_HEADER = "Dsb-Heartbeat-To";
export const HEARTBEAT_HEADER = "Dsb-Heartbeat";
export const HEARTBEAT_REPLICA_HEADER = "Dsb-Heartbeat-Replica";
/** How often (at most) a requester asks `$SRV.PING.<service>` which replicas a service it calls has. */
const MEMBERSHIP_MS = 10_000;
export const DEFAULT_HEARTBEAT_MS = 1000;
export const MISSED_HEARTBEATS = 3;
const MIN_HEARTBEAT_MS = 50;
/** nats.js pings every 2 minutes by default and allows 2 unanswered: a stalled server went unnoticed for ~4–6 minutes. */
export const PING_INTERVAL_MS = 2_000;
export const MAX_PINGS_OUT = 2;
const MAX_HEARTBEAT_MS = 60_000;

/** Builds connection options from a URL that may carry user:pass@ and several comma-separated servers. */
export function natsConnectionOptions(opts: NatsTransportOptions): ConnectionOptions {
  const servers = opts.servers.split(",").map((s) => s.trim()).filter(Boolean);
  let user = opts.user;
  let pass = opts.pass;
  const plain = servers.map((s) => {
    try {
      const u = new URL(s.includes("://") ? s : `nats://${s}`);
      if (u.username && !user) { user = decodeURIComponent(u.username); pass = decodeURIComponent(u.password); }
      // WebSocket servers keep their scheme and path (wsconnect needs the URL); credentials never stay in it.
      if (u.protocol === "ws:" || u.protocol === "wss:") return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
      return `${u.hostname}:${u.port || 4222}`;
    } catch { return s; }
  });
  return {
    servers: plain, name: opts.name, user, pass, token: opts.token,
    // A per-user reply inbox: deploy/nats.conf lets each user subscribe only to its own, so no
    // service can read replies meant for another (e.g. the decrypted configs sent to the connector).
    ...(user && /^[\w-]+$/.test(user) ? { inboxPrefix: `_INBOX_${user}` } : {}),
    // Never give up: a NATS restart must not require a process restart.
    maxReconnectAttempts: -1, reconnectTimeWait: 250, reconnectJitter: 100, waitOnFirstConnect: true,
    // A server that stalls (SIGSTOP, a frozen VM) keeps the TCP connection open: only unanswered
    // pings reveal it. Stale after PING_INTERVAL_MS × (MAX_PINGS_OUT + 1) at most, then reconnect.
    pingInterval: PING_INTERVAL_MS, maxPingOut: MAX_PINGS_OUT,
    // A stalled server still accepts TCP connections (the kernel does): give up on its handshake
    // after 5 s, not nats.js's 20, and try the next server.
    timeout: 5_000,
  };
}

/** A request waiting for its reply on the shared inbox. */
interface Pending {
  subject: string;
  /** The service serving the subject (namespaced), when the caller named it. */
  service: string | undefined;
  /** The replica its heartbeats name (`<service>.<id>`), once one came. */
  replica: string | undefined;
  sentAt: number;
  timeoutMs: number;
  deadline: number;
  lastBeat: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve(data: Uint8Array): void;
  reject(e: AppError): void;
}

/** The two subscriptions every request of this connection shares. */
interface Inbox {
  replies: string;
  beats: string;
  subs: Subscription[];
}

/** Nobody subscribes to the subject (NATS status 503): UNAVAILABLE for a request, "nobody has it" for requestFirst. */
class NoResponders extends AppError {
  constructor(message: string) {
    super("UNAVAILABLE", message, { retryable: true });
  }
}

/** Sends a fanout handler's reply; an error reply carries the micro-service error headers, as `respondError` of @nats-io/services sets them. */
function respond(msg: Msg, reply: Reply): void {
  if (!reply.error) { msg.respond(reply.data); return; }
  const h = natsHeaders();
  h.set(ServiceErrorCodeHeader, String(ERROR_STATUS[reply.error]));
  h.set(ServiceErrorHeader, reply.error);
  msg.respond(reply.data, { headers: h });
}

/** The AppError of an error reply that has only its headers: the stable code when `Nats-Service-Error` is one. */
function errorFromHeaders(subject: string, h: MsgHdrs): AppError {
  const code = ErrorCodeSchema.safeParse(h.get(ServiceErrorHeader));
  if (code.success && code.data !== "INTERNAL") return new AppError(code.data, `The service answering ${subject} failed with ${code.data}`);
  return new AppError("INTERNAL", `The service answering ${subject} failed (${h.get(ServiceErrorCodeHeader)} ${h.get(ServiceErrorHeader)})`.trim());
}

const unavailable = () => new AppError("UNAVAILABLE", "Message bus is unavailable; retry shortly", { retryable: true });
const serviceOf = (subject: string) => subject.split(".").find((t) => t in SERVICES) ?? subject;
const clampBeat = (ms: number) => Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, ms));


export class NatsTransport implements Transport {
  readonly kind = "nats" as const;
  private connected = true;
  private inbox: Inbox | null = null;
  private readonly pending = new Map<string, Pending>();
  /** Liveness probes in flight (and their verdict for one interval after), by replica or service: one per holder, however many requests wait on it. */
  private readonly probes = new Map<string, Promise<boolean>>();
  private readonly replicas = new ReplicaWatch();
  /** When each service's replicas were last asked for. */
  private readonly membershipAsked = new Map<string, number>();
  private nextToken = 0;
  private readonly heartbeatMs: number;

  protected constructor(
    readonly nc: NatsConnection,
    private readonly inboxPrefix: string,
    private readonly onStatus?: NatsTransportOptions["onStatus"],
    heartbeatMs = DEFAULT_HEARTBEAT_MS,
  ) {
    this.heartbeatMs = clampBeat(heartbeatMs);
    void this.watch();
  }

  /** Connects with `open` (TCP or WebSocket); everything above the socket is the same code. */
  static async connectWith(open: NatsConnect, opts: NatsTransportOptions): Promise<NatsTransport> {
    const options = natsConnectionOptions(opts);
    const nc = await open(options);
    return new NatsTransport(nc, options.inboxPrefix ?? "_INBOX", opts.onStatus, opts.heartbeatMs);
  }

  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  private async watch() {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect" || s.type === "staleConnection") this.connected = false;
      else if (s.type === "reconnect") this.connected = true;
      else if (s.type === "error" && s.error instanceof natsErrors.PermissionViolationError && s.error.operation === "publish") {
        // A refused request: every pending request to that subject was refused too.
        for (const [token, p] of this.pending) {
          if (p.subject === s.error.subject) this.settle(token, p, new AppError("FORBIDDEN", `This service may not call ${p.subject}`));
        }
      }
      this.onStatus?.({ type: s.type, data: "server" in s ? s.server : undefined });
    }
    // Closed: nothing pending can be answered any more.
    for (const [token, p] of this.pending) this.settle(token, p, unavailable());
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** Subscribes the shared reply and heartbeat inboxes on first use (the client re-subscribes them after a reconnect). */
  private ensureInbox(): Inbox {
    if (this.inbox) return this.inbox;
    const base = createInbox(this.inboxPrefix);
    const replies = `${base}.`;
    const beats = `${this.inboxPrefix}.hb.${base.slice(this.inboxPrefix.length + 1)}.`;
    const failed = (err: Error) => {
      // The inbox itself was refused (a permission problem): fail what waits and build it anew next time.
      if (this.inbox === inbox) this.inbox = null;
      for (const s of inbox.subs) s.unsubscribe();
      const e = err instanceof natsErrors.PermissionViolationError
        ? new AppError("FORBIDDEN", "This service may not receive replies on its inbox; check NATS_USER and the inbox permissions of nats.conf")
        : unavailable();
      for (const [token, p] of this.pending) this.settle(token, p, e);
    };
    const inbox: Inbox = { replies, beats, subs: [] };
    inbox.subs.push(this.nc.subscribe(`${replies}*`, {
      callback: (err, msg) => (err ? failed(err) : this.onReply(msg.subject.slice(replies.length), msg)),
    }));
    inbox.subs.push(this.nc.subscribe(`${beats}*`, {
      callback: (err, msg) => {
        if (err) return failed(err);
        const p = this.pending.get(msg.subject.slice(beats.length));
        if (!p) return;
        p.lastBeat = performance.now();
        const replica = msg.headers?.get(HEARTBEAT_REPLICA_HEADER);
        if (replica && serviceOfReplica(replica)) {
          p.replica = replica;
          this.replicas.heard(replica, p.lastBeat);
        }
      },
    }));
    this.inbox = inbox;
    return inbox;
  }

  private onReply(token: string, msg: Msg): void {
    const p = this.pending.get(token);
    if (!p) return; // late: the request already timed out
    if (msg.data.length === 0 && msg.headers?.code === 503)
      return this.settle(token, p, new NoResponders(`No service answers ${p.subject}; is it running?`));
    // An error with nothing but the service error headers (a handler that crashed, or a responder
    // outside this code base): the headers are all there is. With a body, the body's envelope says more.
    if (msg.data.length === 0 && msg.headers?.get(ServiceErrorCodeHeader))
      return this.settle(token, p, errorFromHeaders(p.subject, msg.headers));
    this.pending.delete(token);
    clearTimeout(p.timer);
    p.resolve(msg.data);
  }

  private settle(token: string, p: Pending, e: AppError): void {
    if (this.pending.get(token) !== p) return;
    this.pending.delete(token);
    clearTimeout(p.timer);
    p.reject(e);
  }

  /**
   * Whether `holder` (`<service>.<id>` or a service name) still has its subscriptions on the
   * server. Only "no responders" says no: an answer, or none within an interval, means a live
   * replica that is busy.
   */
  private present(holder: string): Promise<boolean> {
    let probe = this.probes.get(holder);
    if (!probe) {
      probe = this.nc.request(`$SRV.PING.${holder}`, Empty, { timeout: this.heartbeatMs }).then(
        () => true,
        (e: unknown) => !(e instanceof natsErrors.RequestError && e.isNoResponders()),
      );
      this.probes.set(holder, probe);
      void probe.then(() => setTimeout(() => this.probes.delete(holder), this.heartbeatMs));
    }
    return probe;
  }

  /**
   * Whether a silent request may still be answered. With a replica named by its heartbeats: that
   * replica is still subscribed. Before any: the service is, and no replica of it that was alive
   * when the request was sent has vanished (it may have been the one holding it).
   */
  private async holderAlive(p: Pending): Promise<boolean> {
    if (p.replica) return this.present(p.replica);
    if (!p.service || !(await this.present(p.service))) return false;
    await Promise.all(this.replicas.of(p.service).map(async (r) => { if (!(await this.present(r))) this.replicas.gone(r); }));
    return !this.replicas.lostSince(p.service, p.sentAt, 2 * MEMBERSHIP_MS);
  }

  /** Learns the replicas of a service this transport calls, at most every MEMBERSHIP_MS (busy ones may answer too late: heartbeats name those). */
  private askMembership(service: string): void {
    const now = performance.now();
    if (now - (this.membershipAsked.get(service) ?? -Infinity) < MEMBERSHIP_MS) return;
    this.membershipAsked.set(service, now);
    void (async () => {
      for await (const m of await this.nc.requestMany(`$SRV.PING.${service}`, Empty, { maxWait: this.heartbeatMs, strategy: "timer" })) {
        const { name, id } = m.json<{ name?: string; id?: string }>();
        if (name && id) this.replicas.heard(`${name}.${id}`, performance.now());
      }
    })().catch(() => undefined);
  }

  /** Silence on a request: fails it when whoever may hold it is gone from the bus, otherwise keeps waiting (its deadline still applies). */
  private checkHolder(token: string, p: Pending): void {
    void this.holderAlive(p).then((alive) => {
      if (this.pending.get(token) !== p) return;
      if (!alive) return this.settle(token, p, new AppError("UNAVAILABLE", `The ${serviceOf(p.subject)} replica handling this request stopped answering; retry`, { retryable: true }));
      p.lastBeat = performance.now();
      this.arm(token, p);
    });
  }

  /**
   * One timer per request, re-armed for whichever comes first: the overall deadline or
   * MISSED_HEARTBEATS intervals after the last sign of life (then its holder is checked).
   */
  private arm(token: string, p: Pending): void {
    const silence = this.heartbeatMs * MISSED_HEARTBEATS;
    const due = Math.min(p.deadline, p.lastBeat + silence);
    p.timer = setTimeout(() => {
      // This loop may have been busy: let heartbeats already in the socket land before judging.
      afterQueuedEvents(() => {
        if (this.pending.get(token) !== p) return;
        const now = performance.now();
        if (now >= p.deadline) {
          this.settle(token, p, this.isConnected()
            ? new AppError("TIMEOUT", `No reply on ${p.subject} within ${p.timeoutMs} ms`, { retryable: true })
            : unavailable());
        } else if (now - p.lastBeat >= silence) {
          if (this.isConnected()) this.checkHolder(token, p);
          else this.settle(token, p, unavailable());
        } else {
          this.arm(token, p);
        }
      });
    }, Math.max(0, due - performance.now()));
  }

  async request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers; service?: string }): Promise<Uint8Array> {
    // Fail fast during an outage instead of queueing until the timeout.
    if (!this.isConnected()) throw unavailable();
    const inbox = this.ensureInbox();
    const token = (this.nextToken++).toString(36);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(opts.headers)) h.set(k, v);
    h.set(HEARTBEAT_MS_HEADER, String(this.heartbeatMs));
    h.set(HEARTBEAT_TO_HEADER, inbox.beats + token);
    return new Promise<Uint8Array>((resolve, reject) => {
      const now = performance.now();
      if (opts.service) this.askMembership(opts.service);
      const p: Pending = { subject, service: opts.service, replica: undefined, sentAt: now, timeoutMs: opts.timeoutMs, deadline: now + opts.timeoutMs, lastBeat: now, timer: undefined, resolve, reject };
      this.pending.set(token, p);
      this.arm(token, p);
      try {
        this.nc.publish(subject, data, { reply: inbox.replies + token, headers: h });
      } catch (e) {
        this.settle(token, p, this.mapError(subject, e));
      }
    });
  }

  private mapError(subject: string, e: unknown): AppError {
    if (e instanceof natsErrors.PermissionViolationError || (e instanceof Error && e.cause instanceof natsErrors.PermissionViolationError))
      return new AppError("FORBIDDEN", `This service may not call ${subject}`);
    if (e instanceof natsErrors.ClosedConnectionError || e instanceof natsErrors.DrainingConnectionError || e instanceof natsErrors.ConnectionError)
      return unavailable();
    return new AppError("UNAVAILABLE", `Bus request on ${subject} failed: ${e instanceof Error ? e.message : String(e)}`, { retryable: true });
  }

  /** Beats (`beat`: the headers naming this replica) to the requester's heartbeat subject until the returned function is called. */
  private heartbeat(h: Headers, beat: MsgHdrs): () => void {
    const to = h[HEARTBEAT_TO_HEADER];
    const ms = Number(h[HEARTBEAT_MS_HEADER]);
    if (!to || !(ms > 0)) return () => {};
    const timer = setInterval(() => {
      if (this.nc.isClosed()) return;
      try { this.nc.publish(to, Empty, { headers: beat }); } catch { /* an invalid or refused subject: the requester falls back to its timeout */ }
    }, clampBeat(ms));
    return () => clearInterval(timer);
  }

  async serve(service: ServiceSpec, endpoints: EndpointSpec[]): Promise<Served> {
    // @nats-io/services pins an older nats-core; the connection is the same at run time.
    const svc = await new Svcm(this.nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
      name: service.name, version: service.version, description: service.description ?? "", metadata: service.metadata ?? {}, queue: service.name,
    });
    const beat = natsHeaders();
    beat.set(HEARTBEAT_HEADER, "1");
    beat.set(HEARTBEAT_REPLICA_HEADER, `${service.name}.${svc.info().id}`);
    for (const ep of endpoints) {
      svc.addEndpoint(ep.name, {
        subject: ep.subject,
        ...(ep.queue === false ? { queue: "" } : {}),
        handler: (err, msg) => {
          if (err) return;
          const hdrs: Headers = {};
          if (msg.headers) for (const [k, v] of msg.headers) hdrs[k] = v[0] ?? "";
          const stopBeats = this.heartbeat(hdrs, beat);
          // Responding fails only when the connection closed meanwhile; the requester then sees silence.
          const answer = (send: () => void) => { stopBeats(); try { send(); } catch { /* connection closed */ } };
          ep.handler(msg.data, hdrs).then(
            (reply) => answer(() => (reply.error ? msg.respondError(ERROR_STATUS[reply.error], reply.error, reply.data) : msg.respond(reply.data))),
            () => answer(() => msg.respondError(ERROR_STATUS.INTERNAL, "INTERNAL")),
          );
        },
      });
    }
    // Make sure the server has the subscriptions before anyone is told we are up.
    await this.nc.flush();
    return { stop: async () => { await svc.stop(); } };
  }

  async requestFirst(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers: Headers }): Promise<Uint8Array | null> {
    try {
      return await this.request(subject, data, opts);
    } catch (e) {
      // Silence (every listener declined) or no listener at all: nobody has it.
      if (e instanceof NoResponders || (e instanceof AppError && e.code === "TIMEOUT")) return null;
      throw e;
    }
  }

  listen(subject: string, handler: FanoutHandler) {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        const hdrs: Headers = {};
        if (msg.headers) for (const [k, v] of msg.headers) hdrs[k] = v[0] ?? "";
        handler(msg.data, hdrs).then((reply) => {
          // Responding fails only when the connection closed meanwhile; the requester then sees silence.
          if (reply && msg.reply) try { respond(msg, reply); } catch { /* connection closed */ }
        }, () => undefined);
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
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
