import { REDACTED_KEYS } from "./redact.ts";

/** The logging calls the gateway makes; pino's Logger and the console logger both fit. */
export interface EdgeLogger {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

/** An error as pino writes it: `{type, message, code, stack}`, the stack one string field. */
function serializeError(e: Error): object {
  return { type: e.name, message: e.message, ...("code" in e ? { code: (e as { code: unknown }).code } : {}), stack: e.stack };
}

function clean(v: unknown, depth: number): unknown {
  if (v instanceof Error) return serializeError(v);
  if (typeof v !== "object" || v === null || depth > 8) return v;
  if (Array.isArray(v)) return v.map((x) => clean(x, depth + 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, REDACTED_KEYS.has(k) ? "[redacted]" : clean(x, depth + 1)]));
}

/**
 * One JSON line per entry on console.log, in pino's shape (level number, time, service, msg),
 * with the same keys redacted: for edge runtimes, where pino's Node streams do not run.
 */
export function createConsoleLogger(service: string, level: keyof typeof LEVELS = "info"): EdgeLogger {
  const min = LEVELS[level];
  const at = (n: number) => (o: object, msg: string) => {
    if (n < min) return;
    console.log(JSON.stringify({ level: n, time: Date.now(), service, ...(clean(o, 0) as object), msg }));
  };
  return { info: at(LEVELS.info), warn: at(LEVELS.warn), error: at(LEVELS.error) };
}
