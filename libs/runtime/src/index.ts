export * from "./env.ts";
export * from "./log.ts";
export * from "./shutdown.ts";
export * from "./crash.ts";
export * from "./bus.ts";
export * from "./sockets.ts";
export * from "./metrics.ts";
export * from "./progress.ts";
