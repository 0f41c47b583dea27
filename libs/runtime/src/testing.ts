import { Bus, MemoryTransport } from "@dsb/bus";
import { createLogger } from "./log.ts";

/**
 * A bus for contract tests: real NATS when TEST_NATS_URL (or NATS_URL) is set,
 * as in CI, and the in-process transport otherwise. Each call gets its own
 * connection so a test's services and clients talk over the wire.
 */
export async function testBus(name = "test"): Promise<Bus> {
  const url = process.env.TEST_NATS_URL ?? process.env.NATS_URL;
  const log = createLogger(name, "silent");
  if (url) {
    const { NatsTransport } = await import("@dsb/bus/nats");
    return new Bus(await NatsTransport.connect({ servers: url, name }), { defaultTimeoutMs: 10_000, log, namespace: FILE_NAMESPACE });
  }
  sharedMemory ??= new MemoryTransport();
  return new Bus(sharedMemory, { defaultTimeoutMs: 10_000, log });
}
let sharedMemory: MemoryTransport | undefined;

/**
 * Each test file runs in its own module graph, so this is per file: test files
 * that serve the same services on the shared NATS never answer each other.
 */
export const FILE_NAMESPACE = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** A fresh in-process bus nobody else shares (for isolated unit tests). */
export const isolatedBus = () => new Bus(new MemoryTransport(), { defaultTimeoutMs: 10_000 });

/** Unique suffix so parallel test files never share subjects' state or database names. */
export const uniqueId = (prefix = "t") => `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** Prints a visible skip line for live tests whose credentials are absent. */
export function skipped(what: string, why: string): void {
  console.log(`SKIPPED ${what}: ${why}`);
}
