import type { Context } from "hono";
import type { GatewayEnv } from "./deps.ts";

/**
 * Marks answers made by `jsonAnswer`: they carry their x-request-id already and are never streams.
 * A property rather than a WeakSet: adding to a WeakSet costs an ephemeron entry per answer.
 */
const WHOLE_JSON = Symbol("wholeJson");

/**
 * A 200 JSON answer with a plain header object, x-request-id included. Hono's `c.json` after
 * `c.header` goes through a Fetch `Headers` object (built, merged, then sorted back into an
 * object by the Node adapter); the query route answers every query, so it skips that.
 */
export function jsonAnswer(c: Context<GatewayEnv>, text: string, headers: Record<string, string>): Response {
  const res = new Response(text, { status: 200, headers: { "content-type": "application/json", "x-request-id": c.get("requestId"), ...headers } });
  (res as Response & { [WHOLE_JSON]?: true })[WHOLE_JSON] = true;
  return res;
}

/** True for an answer of `jsonAnswer` (read without touching its headers, which would build a `Headers`). */
export const isWholeJsonAnswer = (res: Response): boolean => (res as Response & { [WHOLE_JSON]?: true })[WHOLE_JSON] === true;

/**
 * Puts the request id on an answer after its handler. Setting it before the handler (`c.header`)
 * would make Hono build a `Headers` object for every answer; setting it with `c.header` on a
 * finished answer would copy the whole Response, so it goes on the answer's own headers, unless
 * those are immutable (a fetched or redirect Response): then Hono's copy it is.
 */
export function nameRequest(c: Context<GatewayEnv>, requestId: string): void {
  if (isWholeJsonAnswer(c.res)) return;
  try {
    c.res.headers.set("x-request-id", requestId);
  } catch {
    c.header("x-request-id", requestId);
  }
}
