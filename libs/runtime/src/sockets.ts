import type { Duplex } from "node:stream";

const PATCHED = Symbol("dsb.coalesced");

/**
 * Makes every write issued in one tick leave as a single writev. pg sends each
 * protocol message (parse, bind, describe, execute, sync…) with its own write,
 * and on a VM every write is a costly syscall.
 */
export function coalesceWrites(socket: Duplex): void {
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
      process.nextTick(uncork);
    }
    return write(...args);
  }) as typeof s.write;
}

/** The socket under a pg client (its `connection.stream`), when there is one. */
export function pgClientSocket(client: unknown): Duplex | undefined {
  return (client as { connection?: { stream?: Duplex } }).connection?.stream;
}
