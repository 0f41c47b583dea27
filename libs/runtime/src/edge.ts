/** What edge entries (workerd, Deno) may import from the runtime: no pino, no node:* modules. */
export * from "./env.ts";
export * from "./console-log.ts";
