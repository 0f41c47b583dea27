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
