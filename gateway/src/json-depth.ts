import type { MiddlewareHandler } from "hono";
import { AppError } from "@dsb/contracts";
import type { GatewayEnv } from "./deps.ts";

/** Deepest nesting of arrays and objects a JSON body may have; real requests stay under 10. */
export const MAX_JSON_DEPTH = 64;

/**
 * How deep `text`'s arrays and objects nest, stopping once past `max`. One pass
 * over the characters, no recursion: JSON.parse copes with any depth, but the
 * recursive walks after it (validation, the bus's copies) overflow the stack.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Refuses a JSON body nested deeper than MAX_JSON_DEPTH with a 400, before anything reads it. */
export function limitJsonDepth(max = MAX_JSON_DEPTH): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    if (c.req.method !== "GET" && /\bjson\b/i.test(c.req.header("content-type") ?? "")) {
      // Hono keeps the text: the route's validator parses the same body without reading the stream again.
      const text = await c.req.text();
      if (jsonDepthExceeds(text, max)) throw new AppError("VALIDATION", `The JSON body is nested more than ${max} levels deep; send flatter values (a deeply nested value can be sent as a string)`);
    }
    await next();
  };
}
