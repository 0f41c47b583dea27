import { pino, type Logger } from "pino";
import { REDACT } from "./redact.ts";

export type { Logger };


/**
 * The logger a `service` key hangs off. pino writes a child's bindings after its
 * parent's without replacing them, so a child with its own `service` would carry
 * the key twice: service loggers are made from this root instead.
 */
const roots = new WeakMap<Logger, Logger>();

/**
 * JSON logs (one line per entry; an `err` is `{type, message, code, stack}` with the
 * stack as one string field), or pretty ones with the seed's emoji markers on a TTY.
 */
export function createLogger(name: string, level = "info", destination?: NodeJS.WritableStream): Logger {
  const pretty = !destination && process.stdout.isTTY && process.env.NODE_ENV !== "test";
  const opts = { level, redact: { paths: REDACT, censor: "[redacted]" }, base: {} };
  const root = destination ? pino(opts, destination as unknown as pino.DestinationStream)
    : pretty ? pino({ ...opts, transport: { target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname,service", messageFormat: "[{service}] {msg}" } } })
      // Asynchronous: a line written while the previous write is in flight joins the next write, so a
      // busy gateway makes one write per burst instead of two syscalls per request (access + query
      // line). pino flushes what is left synchronously when the process exits.
      : pino(opts, pino.destination({ dest: 1, sync: false }));
  return withRoot(root.child({ service: name }), root);
}

/** The logger of one service of this process (embedded mode): same output, its own `service` key, once. */
export function serviceLogger(log: Logger, service: string): Logger {
  const root = roots.get(log) ?? log;
  return withRoot(root.child({ service }), root);
}

function withRoot(log: Logger, root: Logger): Logger {
  roots.set(log, root);
  return log;
}
