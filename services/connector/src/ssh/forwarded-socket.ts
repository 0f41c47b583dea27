import type { Socket } from "node:net";
import { Duplex } from "node:stream";

/** Opens a byte stream to the database through the tunnel (ssh2 `forwardOut`). */
export type Forward = () => Promise<Duplex>;

/**
 * A socket-shaped stream that is handed to a driver at once and opens its
 * forwarded channel in the background: pg and mysql2 take a `stream` factory that
 * must return synchronously, and call socket methods (connect, setNoDelay,
 * setKeepAlive, ref…) a channel lacks. Writes wait until the channel is open; a
 * failure to open destroys this stream with the tunnel's error, which the drivers
 * report as a connection failure.
 */
export class ForwardedSocket extends Duplex {
  private inner: Duplex | null = null;
  private opened = false;
  private readonly waiting: (() => void)[] = [];
  /** net.Socket's flag; TLS and pg look at it. */
  connecting = true;

  constructor(forward: Forward) {
    // Like net.Socket: the end of the database's side ends ours.
    super({ allowHalfOpen: false });
    forward().then((s) => this.attach(s), (e: unknown) => this.destroy(e instanceof Error ? e : new Error(String(e))));
  }

  private attach(s: Duplex): void {
    if (this.destroyed) {
      s.destroy();
      return;
    }
    this.inner = s;
    this.connecting = false;
    s.on("data", (d: Buffer) => {
      if (!this.push(d)) s.pause();
    });
    s.on("end", () => this.push(null));
    s.on("error", (e: Error) => this.destroy(e));
    // A channel closed under us (tunnel dropped) ends this socket once what it sent is read.
    s.on("close", () => setImmediate(() => this.destroy()));
    this.opened = true;
    for (const go of this.waiting.splice(0)) go();
    this.emit("connect");
    this.emit("ready");
  }

  /** net.Socket#connect: the channel is already on its way; `connect` fires once it is open. */
  connect(): this {
    if (this.opened) process.nextTick(() => this.emit("connect"));
    return this;
  }

  override _read(): void {
    this.inner?.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.inner) this.inner.write(chunk, encoding, cb);
    else this.waiting.push(() => this.inner!.write(chunk, encoding, cb));
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.inner) this.inner.end(cb);
    else this.waiting.push(() => this.inner!.end(cb));
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.inner?.destroy();
    this.inner = null;
    cb(err);
  }

  // Socket tuning means nothing on a channel: the SSH connection carries its own keepalive.
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  setTimeout(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }
}

/**
 * A forwarded socket once its channel is open, for drivers that take a connector
 * function (tedious). Typed as a net.Socket: tedious calls only the socket methods
 * ForwardedSocket has (setKeepAlive, setNoDelay, setTimeout, stream I/O).
 */
export function openForwardedSocket(forward: Forward): Promise<Socket> {
  const s = new ForwardedSocket(forward);
  return new Promise((resolve, reject) => {
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s as unknown as Socket);
    });
    s.once("error", reject);
  });
}
