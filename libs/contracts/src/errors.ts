import { z } from "zod";

/** Stable error codes of API.md with the HTTP status each maps to. */
export const ERROR_STATUS = {
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ADDRESS_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  /** The query was cancelled (by id, or its client went away). */
  CANCELLED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_FORMAT: 415,
  UNSUPPORTED_DATABASE: 422,
  CONNECTION_FAILED: 422,
  QUERY_FAILED: 422,
  PARSE_FAILED: 422,
  INTERNAL: 500,
  NOT_IMPLEMENTED: 501,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];
export const ErrorCodeSchema = z.enum(ERROR_CODES);

/** How an error crosses the bus: a stable code plus a human sentence. */
export const BusErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
  /** True when the same request may succeed if sent again (a replica died, the bus blinked). */
  retryable: z.boolean().default(false),
});
export type BusError = z.infer<typeof BusErrorSchema>;

/** The REST failure envelope of API.md. */
export const ErrorEnvelopeSchema = z.object({
  success: z.literal(false),
  error: z.string(),
  code: ErrorCodeSchema,
  details: z.record(z.string(), z.unknown()).optional(),
});

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(["UNAVAILABLE", "TIMEOUT"]);

/** The one error type of the system; services throw it, the bus carries it, the gateway maps it. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.details = options.details;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
  toBus(): BusError {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.details ? { details: this.details } : {}) };
  }
  static fromBus(e: BusError): AppError {
    return new AppError(e.code, e.message, { details: e.details, retryable: e.retryable });
  }
}

/** Turns a zod failure into one readable sentence naming the fields. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
}

/**
 * Whatever was thrown, as the AppError that may cross the bus or reach a client: an AppError as
 * it is, a zod failure as VALIDATION naming the fields, anything else INTERNAL "Internal error"
 * (its message may hold a stack or a secret; it stays in `cause`, for the log). The one place this
 * mapping lives: callers with more context (the gateway's HTTP errors, the connector's driver
 * errors) map what they know and hand the rest here.
 */
export function toAppError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  if (e instanceof z.ZodError) return new AppError("VALIDATION", describeIssues(e));
  return new AppError("INTERNAL", "Internal error", { cause: e });
}
