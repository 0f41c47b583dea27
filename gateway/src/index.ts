/**
 * The gateway as a library: the Hono app (any runtime) and the Node entry's
 * start function, for the embedded system (src/system.ts) and tests. The
 * process entries are main.ts (Node), worker.ts (workerd) and deno.ts.
 */
export { createApp } from "./app.ts";
export type { GatewayDeps, GatewayEnv } from "./deps.ts";
export { startGateway, type GatewayHandle } from "./node.ts";
