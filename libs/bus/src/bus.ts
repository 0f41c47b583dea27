import { z } from "zod";
import {
  AppError, BusErrorSchema, describeIssues, EVENTS, SERVICES, SUBJECTS, toAppError,
  type EventName, type EventOf, type FanoutSubject, type ParsedRequestOf, type ReplyInputOf, type ReplyOf, type RequestOf, type ServiceName, type SubjectName,
} from "@dsb/contracts";
import type { FanoutHandler, Headers, Reply, Served, Transport } from "./transport.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What a handler learns about the request besides its body. */
export interface RequestContext {
  requestId: string;
  subject: string;
  headers: Headers;
}

/**
 * A reply its handler already wrote as the contract's JSON text (the `data` of the
 * envelope), as a string or as UTF-8 pieces sent one after the other. It leaves
 * without a zod pass or a JSON.stringify: for megabyte replies assembled from parts
 * that are valid by construction (a live schema built from JSON the database
 * printed). Whoever returns one owns its conformance, in tests.
 */
export class RawJson {
  constructor(readonly text: string | readonly Uint8Array[]) {}
}

/**
 * A reply with a binary attachment: the reply is validated and sent as JSON as
 * usual, the bytes travel after it in the same message, neither escaped nor
 * copied into a string (CSV export pages). `requestWithBytes` gets both back.
 */
export class WithBytes<T> {
  /**
   * `headroom`: how many bytes just before `bytes` in its buffer are free for the message's
   * frame and JSON, so a page written after a gap needs no copy into a new message.
   */
  constructor(readonly reply: T, readonly bytes: Uint8Array, readonly headroom = 0) {}
}

export type Handler<S extends SubjectName> = (req: ParsedRequestOf<S>, ctx: RequestContext) => Promise<ReplyInputOf<S> | RawJson | WithBytes<ReplyInputOf<S>>>;
export type Handlers<N extends SubjectName> = { [S in N]: Handler<S> };
/** Any handler, as the bus runs it once the subject's schemas have checked what goes in and out. */
type AnyHandler = (req: unknown, ctx: RequestContext) => Promise<unknown>;

export interface RequestOptions {
  timeoutMs?: number;
  requestId?: string;
  /** Concrete subject for per-replica subjects (`connector.cursor.<replica>`). */
  subject?: string;
}

export interface BusLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const Envelope = z.union([
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: BusErrorSchema }),
]);

export const encodeJson = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));

/** Room for headers and protocol framing inside max_payload. */
const FRAME_BYTES = 4096;

/**
 * JSON bytes for the wire. A message over the bus limit (a schema of thousands of
 * tables, say) is gzipped; JSON never starts with gzip's magic bytes, so the
 * receiver tells them apart without a header. Result pages are cut below the
 * limit and never pay for compression.
 */
export function encodeMessage(v: unknown, maxPayload: number, subject: string): Promise<Uint8Array> {
  return fitMessage(encodeJson(v), maxPayload, subject);
}

/** The parts of node:zlib used here, when the runtime has it. */
type ZlibDone = (err: Error | null, out: Uint8Array) => void;
interface Zlib {
  gzip(b: Uint8Array, o: { level: number }, done: ZlibDone): void;
  gunzip(b: Uint8Array, o: { chunkSize: number }, done: ZlibDone): void;
}

/**
 * node:zlib where the runtime offers it (Node, Deno), reached through
 * `process.getBuiltinModule` so that bundles for edge runtimes import nothing.
 * Megabyte messages compress ~100× (a schema's JSON repeats itself), and zlib's
 * fastest level does it ~10× faster than a CompressionStream at its default
 * level (7.5 MB: 5 ms against 40–110 ms; gunzip 8 ms against 25–170 ms), off
 * the event loop as well (libuv's thread pool).
 */
const zlib = (() => {
  try {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    return (p?.getBuiltinModule?.("node:zlib") as Zlib | undefined) ?? null;
  } catch {
    return null;
  }
})();

/** gzip or gunzip: node:zlib when present, else the Web's CompressionStream (edge runtimes). */
async function gzip(bytes: Uint8Array, how: "compress" | "decompress"): Promise<Uint8Array> {
  if (zlib) {
    const z = zlib;
    return new Promise((resolve, reject) => {
      const done: ZlibDone = (err, out) => (err ? reject(err) : resolve(out));
      if (how === "compress") z.gzip(bytes, { level: 1 }, done);
      // 1 MiB pieces, not zlib's 16 KiB: ~460 buffers per 7.5 MB schema, concatenated after, cost the
      // gateway ~15-20 ms of CPU (mostly GC) per live schema.
      else z.gunzip(bytes, { chunkSize: 1 << 20 }, done);
    });
  }
  const transform = how === "compress" ? new CompressionStream("gzip") : new DecompressionStream("gzip");
  return new Uint8Array(await new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(transform)).arrayBuffer());
}

async function fitMessage(bytes: Uint8Array, maxPayload: number, subject: string): Promise<Uint8Array> {
  if (bytes.byteLength <= maxPayload - FRAME_BYTES) return bytes;
  const packed = await gzip(bytes, "compress");
  if (packed.byteLength > maxPayload - FRAME_BYTES)
    throw new AppError("PAYLOAD_TOO_LARGE", `Message on ${subject} is ${bytes.byteLength} bytes (${packed.byteLength} compressed), more than the bus carries (${maxPayload}); raise NATS max_payload`);
  return packed;
}

/**
 * A message with an attachment: 0x00, the JSON's length (u32 big-endian), the JSON,
 * the bytes. JSON never starts with 0x00 (nor gzip, 0x1f 0x8b), so the receiver
 * tells the three apart by the first byte.
 */
function frameWithBytes(json: Uint8Array, bytes: Uint8Array, headroom = 0): Uint8Array {
  const head = 5 + json.byteLength;
  const inPlace = head <= headroom;
  const out = inPlace ? new Uint8Array(bytes.buffer, bytes.byteOffset - head, head + bytes.byteLength) : new Uint8Array(head + bytes.byteLength);
  out[0] = 0;
  new DataView(out.buffer, out.byteOffset).setUint32(1, json.byteLength);
  out.set(json, 5);
  if (!inPlace) out.set(bytes, head);
  return out;
}

/** The JSON part of a message and its attachment, if any (gunzipped first when compressed). */
async function unframe(b: Uint8Array): Promise<{ json: Uint8Array; bytes: Uint8Array | null }> {
  const m = b.byteLength > 2 && b[0] === 0x1f && b[1] === 0x8b ? await gzip(b, "decompress") : b;
  if (m.byteLength < 5 || m[0] !== 0) return { json: m, bytes: null };
  const len = new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(1);
  return { json: m.subarray(5, 5 + len), bytes: m.subarray(5 + len) };
}

const decodeText = async (b: Uint8Array): Promise<string> => dec.decode((await unframe(b)).json);

export const decodeJson = async (b: Uint8Array): Promise<unknown> => JSON.parse(await decodeText(b));

/** Events are never compressed nor framed (encodeJson), so they decode synchronously. */
const decodeEvent = (b: Uint8Array): unknown => JSON.parse(dec.decode(b));

/** How every successful envelope starts: JSON.stringify({ ok: true, data }) and RawJson replies alike. */
const OK_PREFIX = '{"ok":true,"data":';
const OK_PREFIX_BYTES = enc.encode(OK_PREFIX);
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACE_BYTES = new Uint8Array([CLOSE_BRACE]);
const startsWithBytes = (b: Uint8Array, prefix: Uint8Array) => b.byteLength >= prefix.byteLength && prefix.every((x, i) => b[i] === x);

/** The envelope of a RawJson reply, encoded once. */
function rawEnvelope(raw: RawJson): Uint8Array {
  if (typeof raw.text === "string") return enc.encode(`${OK_PREFIX}${raw.text}}`);
  const parts = [OK_PREFIX_BYTES, ...raw.text, CLOSE_BRACE_BYTES];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}

/** An error reply: the `{ok:false, error}` envelope, flagged so the transport can mark it (NATS service error headers). */
const errorReply = (err: AppError): Reply => ({ data: encodeJson({ ok: false, error: err.toBus() }), error: err.code });

let seq = 0;
export const newRequestId = () => `${Date.now().toString(36)}-${(seq++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * Typed request-reply over a transport. Requests are validated before they
 * leave and when they arrive; replies likewise. Errors travel as
 * `{code, message, retryable}` and come back as AppError.
 */
export class Bus {
  constructor(
    readonly transport: Transport,
    private readonly opts: {
      defaultTimeoutMs?: number; log?: BusLogger; namespace?: string;
      /** Each request this process served: its subject as declared (no ids) and `ok` or the error code (ds_bus_requests_total). */
      onServed?: (subject: SubjectName, status: string) => void;
    } = {},
  ) {}

  /**
   * Subject on the wire. A namespace keeps several deployments (or parallel
   * test files) apart on one NATS; none by default.
   */
  private wire(subject: string): string {
    return this.opts.namespace ? `${this.opts.namespace}.${subject}` : subject;
  }

  private serviceName(service: string): string {
    return this.opts.namespace ? `${this.opts.namespace}-${service}` : service;
  }

  get maxPayload(): number {
    return this.transport.maxPayload;
  }

  private async send<S extends SubjectName>(name: S, req: RequestOf<S>, opts: RequestOptions): Promise<Uint8Array> {
    const checked = SUBJECTS[name].request.safeParse(req);
    if (!checked.success) throw new AppError("VALIDATION", describeIssues(checked.error));
    const subject = opts.subject ?? name;
    const service = name.slice(0, name.indexOf("."));
    return this.transport.request(this.wire(subject), await encodeMessage(checked.data, this.transport.maxPayload, subject), {
      timeoutMs: opts.timeoutMs ?? this.opts.defaultTimeoutMs ?? 30_000,
      headers: { "x-request-id": opts.requestId ?? newRequestId() },
      service: service in SERVICES ? this.serviceName(service) : undefined,
    });
  }

  async request<S extends SubjectName>(name: S, req: RequestOf<S>, opts: RequestOptions = {}): Promise<ReplyOf<S>> {
    return (await this.requestWithBytes(name, req, opts)).reply;
  }

  /** Like `request`, with the reply's binary attachment (`WithBytes`), or null when it has none. */
  async requestWithBytes<S extends SubjectName>(name: S, req: RequestOf<S>, opts: RequestOptions = {}): Promise<{ reply: ReplyOf<S>; bytes: Uint8Array | null }> {
    return this.openReply(name, opts.subject ?? name, await this.send(name, req, opts));
  }

  /** The validated reply in a reply message (and its attachment); an error reply is thrown as AppError. */
  private async openReply<S extends SubjectName>(name: S, subject: string, message: Uint8Array): Promise<{ reply: ReplyOf<S>; bytes: Uint8Array | null }> {
    const { json, bytes } = await unframe(message);
    const env = Envelope.safeParse(JSON.parse(dec.decode(json)));
    if (!env.success) throw new AppError("INTERNAL", `Malformed reply on ${subject}`);
    if (!env.data.ok) throw AppError.fromBus(env.data.error);
    const reply = SUBJECTS[name].reply.safeParse(env.data.data);
    if (!reply.success) throw new AppError("INTERNAL", `Reply on ${subject} breaks its contract: ${describeIssues(reply.error)}`);
    return { reply: reply.data as ReplyOf<S>, bytes };
  }

  /**
   * Asks every replica serving a fanout subject; the first answer wins, and null means none
   * answered within `timeoutMs` (nobody has what was asked for). Keep the timeout short: it is
   * what a "nobody" costs.
   */
  async requestFirst<S extends FanoutSubject>(name: S, req: RequestOf<S>, opts: RequestOptions & { timeoutMs: number }): Promise<ReplyOf<S> | null> {
    const checked = SUBJECTS[name].request.safeParse(req);
    if (!checked.success) throw new AppError("VALIDATION", describeIssues(checked.error));
    const message = await this.transport.requestFirst(this.wire(name), await encodeMessage(checked.data, this.transport.maxPayload, name), {
      timeoutMs: opts.timeoutMs, headers: { "x-request-id": opts.requestId ?? newRequestId() },
    });
    return message ? (await this.openReply(name, name, message)).reply : null;
  }

  /**
   * Serves a fanout subject on this replica (no queue group: every replica hears each request).
   * The handler returns null to stay silent ("not mine"); an error it throws is answered.
   */
  listen<S extends FanoutSubject>(name: S, handler: (req: ParsedRequestOf<S>, ctx: RequestContext) => Promise<ReplyInputOf<S> | null>): { unsubscribe(): void } {
    const run = this.endpointHandler(name, name, handler as unknown as AnyHandler);
    return this.transport.listen(this.wire(name), run);
  }

  /**
   * Like `request`, but the reply comes back as its JSON text, neither parsed nor
   * validated: for a caller that only forwards it (the gateway writing a schema of
   * megabytes into an HTTP response). Errors are rebuilt as with `request`.
   */
  async requestJson<S extends SubjectName>(name: S, req: RequestOf<S>, opts: RequestOptions = {}): Promise<string> {
    return dec.decode(await this.requestJsonBytes(name, req, opts));
  }

  /** `requestJson` as UTF-8 bytes, never decoded: for a caller that writes them out as they are. */
  async requestJsonBytes<S extends SubjectName>(name: S, req: RequestOf<S>, opts: RequestOptions = {}): Promise<Uint8Array> {
    const { json } = await unframe(await this.send(name, req, opts));
    if (startsWithBytes(json, OK_PREFIX_BYTES) && json[json.byteLength - 1] === CLOSE_BRACE) return json.subarray(OK_PREFIX_BYTES.byteLength, -1);
    const env = Envelope.safeParse(JSON.parse(dec.decode(json)));
    if (env.success && !env.data.ok) throw AppError.fromBus(env.data.error);
    throw new AppError("INTERNAL", `Malformed reply on ${opts.subject ?? name}`);
  }

  /**
   * Serves a set of subjects as one NATS micro-service (queue group = service name).
   * `replicaId` fills the `*` of per-replica subjects.
   */
  async serve<N extends SubjectName>(
    service: ServiceName,
    handlers: Handlers<N>,
    opts: { replicaId: string; version?: string },
  ): Promise<Served> {
    const endpoints = (Object.keys(handlers) as N[]).map((name) => {
      const perReplica = name.endsWith(".*");
      const subject = perReplica ? name.replace("*", opts.replicaId) : name;
      const run = this.endpointHandler(name, subject, handlers[name] as unknown as AnyHandler);
      return {
        name: name.replace(/\.\*$/, "").replace(/\./g, "_"),
        subject: this.wire(subject),
        queue: !perReplica,
        // Only fanout handlers (`listen`) may decline; a null here breaks the reply's contract.
        handler: async (data: Uint8Array, headers: Headers) => (await run(data, headers)) ?? errorReply(new AppError("INTERNAL", `No reply on ${subject}`)),
      };
    });
    return this.transport.serve({ name: this.serviceName(service), version: opts.version ?? "0.1.0", metadata: { replica: opts.replicaId } }, endpoints);
  }

  /** Validates, runs and encodes one request of `name`; errors become error replies, null stays null. */
  private endpointHandler(name: SubjectName, subject: string, handler: AnyHandler): FanoutHandler {
    const def = SUBJECTS[name];
    return async (data, headers) => {
      const requestId = headers["x-request-id"] ?? newRequestId();
      try {
        const req = def.request.safeParse(await decodeJson(data));
        if (!req.success) throw new AppError("VALIDATION", describeIssues(req.error));
        const out = await handler(req.data, { requestId, subject, headers });
        if (out === null) return null;
        if (out instanceof RawJson) this.opts.onServed?.(name, "ok");
        if (out instanceof RawJson) return { data: await fitMessage(rawEnvelope(out), this.transport.maxPayload, subject) };
        const reply = def.reply.safeParse(out instanceof WithBytes ? out.reply : out);
        if (!reply.success) throw new AppError("INTERNAL", `Reply on ${subject} breaks its contract: ${describeIssues(reply.error)}`);
        this.opts.onServed?.(name, "ok");
        if (out instanceof WithBytes) return { data: await fitMessage(frameWithBytes(encodeJson({ ok: true, data: reply.data }), out.bytes, out.headroom), this.transport.maxPayload, subject) };
        // Awaited here: a reply too large for the bus is this handler's error, answered below.
        return { data: await encodeMessage({ ok: true, data: reply.data }, this.transport.maxPayload, subject) };
      } catch (e) {
        const err = toAppError(e);
        if (err.code === "INTERNAL") this.opts.log?.error({ err: e, subject, requestId }, "❌ handler failed");
        this.opts.onServed?.(name, err.code);
        return errorReply(err);
      }
    };
  }

  publish<E extends EventName>(event: E, payload: EventOf<E>): void {
    this.transport.publish(this.wire(event), encodeJson(EVENTS[event].parse(payload)));
  }

  subscribe<E extends EventName>(event: E, handler: (payload: EventOf<E>) => void | Promise<void>) {
    return this.transport.subscribe(this.wire(event), (data) => {
      const parsed = EVENTS[event].safeParse(decodeEvent(data));
      if (!parsed.success) { this.opts.log?.warn({ event }, "⚠️ malformed event dropped"); return; }
      Promise.resolve(handler(parsed.data as EventOf<E>)).catch((err) => this.opts.log?.error({ err, event }, "❌ event handler failed"));
    });
  }

  ping(service: ServiceName, timeoutMs = 1000): Promise<boolean> {
    return this.transport.ping(this.serviceName(service), timeoutMs);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
