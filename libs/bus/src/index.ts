export * from "./transport.ts";
export * from "./bus.ts";
export * from "./memory.ts";
export * from "./pages.ts";
export * from "./ttl-cache.ts";
