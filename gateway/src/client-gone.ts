import type { Context } from "hono";

/** The parts of @hono/node-server's `outgoing` (a ServerResponse) and `incoming` read here. */
interface NodeOutgoing { once(event: "close", f: () => void): unknown; readonly writableFinished: boolean }
interface NodeIncoming { readonly errored?: unknown }

/**
 * Calls `f` once if the client goes away before its response is finished.
 * On Node this listens to the response's "close" as @hono/node-server does, because
 * reading `c.req.raw.signal` there creates an AbortController per request (a measurable
 * share of a small query's CPU); other runtimes give the request's own signal.
 */
export function onClientGone(c: Context, f: () => void): void {
  const env = c.env as { outgoing?: NodeOutgoing; incoming?: NodeIncoming } | undefined;
  const outgoing = env?.outgoing;
  if (outgoing && typeof outgoing.once === "function") {
    outgoing.once("close", () => {
      if (!outgoing.writableFinished || env?.incoming?.errored) f();
    });
    return;
  }
  c.req.raw.signal.addEventListener("abort", f, { once: true });
}
