/** Keys whose values never reach a log line, wherever they sit (pino redact paths). */
export const REDACT = [
  "password", "*.password", "*.*.password", "connection_string", "*.connection_string", "*.*.connection_string",
  "credentials", "*.credentials", "*.*.credentials", "private_key", "*.private_key", "*.*.private_key",
  "token", "*.token", "api_key", "*.api_key", "secret_access_key", "*.secret_access_key",
  "authorization", "*.authorization", "req.headers.authorization", "headers.authorization",
  "ENCRYPTION_KEY", "JWT_SECRET", "config", "*.config",
];

/** The key names of REDACT, for loggers that match keys at any depth. */
export const REDACTED_KEYS: ReadonlySet<string> = new Set(REDACT.map((p) => p.split(".").pop()!));
