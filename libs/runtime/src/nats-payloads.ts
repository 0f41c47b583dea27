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

/** A payload buffer allocated once at the message's announced size. */
class ExactPayload implements PayloadBuffer {
  private readonly buf: Uint8Array;
  length: number;

  constructor(size: number, head: Uint8Array) {
    this.buf = uninitialised(Math.max(size, head.length));
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
