import type { Duplex } from "node:stream";

const PATCHED = Symbol("dsb.coalesced");

/**
 * Makes every write issued in one tick leave as a single writev. pg sends each
 * protocol message (parse, bind, describe, execute, sync…) with its own write,
 * and on a VM every write is a costly syscall. `"loop"` holds the writes until
 * the end of the event-loop turn instead (setImmediate), so a bus connection
 * sends the messages of every request handled in that turn together.
 */
export function coalesceWrites(socket: Duplex, until: "tick" | "loop" = "tick"): void {
  const s = socket as Duplex & { [PATCHED]?: true };
  if (s[PATCHED]) return;
  s[PATCHED] = true;
  const write = s.write.bind(s) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = () => {
    corked = false;
    s.uncork();
  };
  s.write = ((...args: unknown[]) => {
    if (!corked && !s.destroyed) {
      corked = true;
      s.cork();
      if (until === "tick") process.nextTick(uncork);
      else setImmediate(uncork);
    }
    return write(...args);
  }) as typeof s.write;
}

/** The socket under a pg client (its `connection.stream`), when there is one. */
export function pgClientSocket(client: unknown): Duplex | undefined {
  return (client as { connection?: { stream?: Duplex } }).connection?.stream;
}

/** The socket under a NATS connection (its transport's), when there is one; reconnecting replaces it. */
export function natsSocket(nc: unknown): Duplex | undefined {
  return (nc as { protocol?: { transport?: { socket?: Duplex } } }).protocol?.transport?.socket;
}

/** What `sendUnpacked` touches of nats.js's protocol handler (internals of @nats-io/nats-core 3.x). */
interface NatsProtocol {
  infoReceived: boolean;
  connected: boolean;
  outbound: { buffers: Uint8Array[]; size(): number; reset(): void };
  transport: { send(frame: Uint8Array): void };
  flushPending(): void;
  [UNPACKED]?: true;
}
const UNPACKED = Symbol("dsb.unpacked");
/** A turn's outgoing bytes from which their pieces are written as they are. */
export const UNPACK_FROM_BYTES = 64 * 1024;

/**
 * nats.js copies a turn's outgoing messages into one new buffer before writing them
 * (`DataBuffer.pack`): for a 1 MiB export page, an allocation that V8 counts as external
 * memory (and answers with full collections) plus a copy. With the socket corked for the
 * turn (`coalesceWrites`), the pieces go to it as they are and still leave as one writev.
 * Small turns keep the one packed write (a write per piece costs more than the copy).
 */
export function sendUnpacked(nc: unknown): void {
  const p = (nc as { protocol?: NatsProtocol }).protocol;
  if (!p || p[UNPACKED] || typeof p.flushPending !== "function" || !p.outbound?.buffers) return;
  p[UNPACKED] = true;
  const flushPacked = p.flushPending.bind(p);
  p.flushPending = () => {
    if (!p.infoReceived || !p.connected || p.outbound.size() < UNPACK_FROM_BYTES) return flushPacked();
    const parts = p.outbound.buffers.slice();
    p.outbound.reset();
    for (const b of parts) p.transport.send(b);
  };
}
