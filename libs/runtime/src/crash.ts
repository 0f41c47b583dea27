import { format } from "node:util";
import type { Logger } from "pino";
import { EnvError, parseEnv, type Env } from "./env.ts";
import { createLogger } from "./log.ts";
import { collectWhenIdle } from "./idle-gc.ts";

/**
 * An uncaught exception or unhandled rejection becomes one JSON log line (with
 * the request id when the error carries one) instead of Node's multi-line stack
 * on stderr; the process then exits 1 as it would have. Installed by each
 * process entry point, never by code that runs inside tests.
 */
export function logCrashes(log: Logger): void {
  process.on("uncaughtException", (err: unknown, origin) => {
    const message = err instanceof Error ? err.message : String(err);
    const requestId = typeof err === "object" && err && "requestId" in err ? (err as { requestId: unknown }).requestId : undefined;
    log.fatal({ err, origin, ...(requestId ? { requestId } : {}) }, `❌ process crashed: ${message}`);
    log.flush?.();
    process.exit(1);
  });
}

/**
 * What libraries print with console.error / console.warn (@hono/node-server a failed
 * response, an Emscripten abort in PGlite) becomes a log entry too: the text, stack
 * and all, as one field of one JSON line instead of raw lines among the logs.
 */
export function logConsole(log: Logger): void {
  let inside = false;
  const route = (level: "error" | "warn") => (...args: unknown[]) => {
    if (inside) return; // a logger failing would otherwise print through itself forever
    inside = true;
    try {
      const err = args.find((a) => a instanceof Error);
      log[level](err && args.length === 1 ? { err } : { ...(err ? { err } : {}), console: format(...args) }, `${level === "error" ? "❌" : "⚠️"} printed by a library: ${err instanceof Error ? err.message : format(...args).split("\n")[0]}`);
    } finally {
      inside = false;
    }
  };
  console.error = route("error");
  console.warn = route("warn");
}

/**
 * The start of a process entry point: its environment and logger, with crashes
 * logged and the heap collected when the process falls idle after load (IDLE_GC_MIB). A bad variable is one fatal log line with the sentence naming it, and exit 1.
 */
export function startProcess(service: string): { env: Env; log: Logger } {
  let env: Env;
  try {
    env = parseEnv();
  } catch (e) {
    if (!(e instanceof EnvError)) throw e;
    createLogger(service).fatal(`❌ ${e.message}`);
    process.exit(1);
  }
  const log = createLogger(service, env.LOG_LEVEL);
  logCrashes(log);
  logConsole(log);
  collectWhenIdle({ growthBytes: env.IDLE_GC_MIB * 2 ** 20, log });
  return { env, log };
}
