import { Parser, State } from "@nats-io/nats-core/internal";

/** The parts of nats.js's payload buffer (`DenoBuffer`) its parser uses for a message split across socket reads. */
interface PayloadBuffer {
  readonly length: number;
  bytes(opts?: { copy?: boolean }): Uint8Array;
  write(p: Uint8Array): number;
  writeByte(b: number): number;
}

/**
 * Memory for a payload, left uninitialised: every byte is written before it is read (`bytes()`
 * hands out only the written part). Zeroed megabytes (calloc) under jemalloc, as the services run,
 * cost page faults and zeroing on every export page: about half the gateway's CPU in an export.
 */
const uninitialised: (size: number) => Uint8Array = typeof Buffer === "function" ? (size) => Buffer.allocUnsafeSlow(size) : (size) => new Uint8Array(size);
/** A view of all of `ab`, of the kind `uninitialised` makes. */
const whole: (ab: ArrayBuffer) => Uint8Array = typeof Buffer === "function" ? (ab) => Buffer.from(ab) : (ab) => new Uint8Array(ab);

/** Payloads from this size up come from (and may go back to) the pool. */
const POOLED_FROM_BYTES = 256 * 1024;
/** Pooled buffers are made in multiples of this, so messages of nearly one size share them (a direct get's headers vary by a few bytes). */
const POOL_STEP = 64 * 1024;
/** Handed-back buffers kept per size; a stream's consumer has a few messages in flight. */
const POOL_PER_SIZE = 4;
/** The pool empties once nothing was taken from it or handed back for this long: an idle process keeps no megabytes for it. */
const POOL_IDLE_MS = 5_000;
/** Handed-back payload buffers by size, reused for the next payload of that size. */
const pool = new Map<number, ArrayBuffer[]>();
/** Buffers this module made for a payload (only those are taken back), and those now waiting in the pool. */
const made = new WeakSet<ArrayBufferLike>();
const waiting = new WeakSet<ArrayBufferLike>();
let used = 0;
let idleTimer: ReturnType<typeof setInterval> | undefined;

/** Empties the pool when it was not used for POOL_IDLE_MS (one timer, checked every POOL_IDLE_MS). */
function touchPool(): void {
  used = Date.now();
  if (idleTimer) return;
  idleTimer = setInterval(() => {
    if (Date.now() - used < POOL_IDLE_MS) return;
    pool.clear();
    clearInterval(idleTimer);
    idleTimer = undefined;
  }, POOL_IDLE_MS);
  (idleTimer as { unref?: () => void }).unref?.();
}

/** Memory for a payload of `size` bytes: a small one of its own, a large one from the pool when one waits there. */
function payloadBuffer(size: number): Uint8Array {
  if (size < POOLED_FROM_BYTES) return uninitialised(size);
  const capacity = Math.ceil(size / POOL_STEP) * POOL_STEP;
  const reused = pool.get(capacity)?.pop();
  if (reused) {
    touchPool();
    waiting.delete(reused);
    return whole(reused);
  }
  const buf = uninitialised(capacity);
  made.add(buf.buffer);
  return buf;
}

/**
 * Hands a received message's payload (`msg.data`, all of it or a view of it) back for a later inbound
 * payload of about its size. Only once its reader is done with it and nothing refers to any part of that
 * message any more: the next message is written into the same memory. What the pool does not take
 * (a small message, one read from a single socket read, one handed back already) is left to the GC.
 * Why: the pages stay mapped, and a dead megabyte does not wait for a collection (a chunk that lived
 * through two young collections would wait for a full one).
 */
export function recyclePayload(data: Uint8Array): void {
  const ab = data.buffer as ArrayBuffer;
  if (!made.has(ab) || waiting.has(ab)) return;
  let list = pool.get(ab.byteLength);
  if (!list) pool.set(ab.byteLength, (list = []));
  if (list.length >= POOL_PER_SIZE) return;
  waiting.add(ab);
  list.push(ab);
  touchPool();
}

/** A payload buffer taken once for the message's announced size (payloadBuffer). */
class ExactPayload implements PayloadBuffer {
  private readonly buf: Uint8Array;
  length: number;

  constructor(size: number, head: Uint8Array) {
    this.buf = payloadBuffer(Math.max(size, head.length));
    this.buf.set(head);
    this.length = head.length;
  }

  bytes(): Uint8Array {
    return this.length === this.buf.length ? this.buf : this.buf.subarray(0, this.length);
  }

  write(p: Uint8Array): number {
    this.buf.set(p, this.length);
    this.length += p.length;
    return p.length;
  }

  writeByte(b: number): number {
    this.buf[this.length++] = b;
    return 1;
  }
}

interface ParserState { state: number; msgBuf?: PayloadBuffer; ma: { size: number }; parse(buf: Uint8Array): void }
const PATCHED = Symbol.for("dsb.exactPayloads");

/**
 * nats.js gathers a message that spans socket reads in a growing buffer that doubles
 * as it fills: a 1 MiB export page or upload chunk, arriving in 64 KiB reads, is copied
 * ~2 times and handed on as a view that keeps a buffer of up to twice its size alive.
 * The parser knows the size from the message's header, so the buffer is made once at
 * that size instead (patched on the class: a reconnect makes a new parser).
 */
export function exactPayloads(): void {
  const proto = Parser.prototype as unknown as ParserState & { [PATCHED]?: true };
  if (proto[PATCHED]) return;
  proto[PATCHED] = true;
  const parse = proto.parse;
  proto.parse = function (this: ParserState, buf: Uint8Array) {
    parse.call(this, buf);
    const m = this.msgBuf;
    if (this.state === State.MSG_PAYLOAD && m && !(m instanceof ExactPayload)) this.msgBuf = new ExactPayload(this.ma.size, m.bytes({ copy: false }));
  };
}
