import { pino, type Logger } from "pino";

export type { Logger };

/** Keys whose values never reach a log line, wherever they sit. */
const REDACT = [
  "password", "*.password", "*.*.password", "connection_string", "*.connection_string", "*.*.connection_string",
  "credentials", "*.credentials", "*.*.credentials", "private_key", "*.private_key", "*.*.private_key",
  "token", "*.token", "api_key", "*.api_key", "secret_access_key", "*.secret_access_key",
  "authorization", "*.authorization", "req.headers.authorization", "headers.authorization",
  "ENCRYPTION_KEY", "JWT_SECRET", "config", "*.config",
];

/** JSON logs, or pretty ones with the seed's emoji markers on a TTY. */
export function createLogger(name: string, level = "info", destination?: NodeJS.WritableStream): Logger {
  const pretty = !destination && process.stdout.isTTY && process.env.NODE_ENV !== "test";
  const opts = { name, level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service: name } };
  if (destination) return pino(opts, destination as unknown as pino.DestinationStream);
  if (pretty) return pino({ ...opts, transport: { target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname,service", messageFormat: "[{service}] {msg}" } } });
  return pino(opts);
}
