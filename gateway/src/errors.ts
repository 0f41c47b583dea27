import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { AppError, ERROR_STATUS, toAppError, type ErrorCode } from "@dsb/contracts";
import type { GatewayEnv } from "./deps.ts";

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = { 400: "VALIDATION", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_FORMAT" };

/** Any thrown value as the AppError the client should see (never a stack, never a secret): Hono's HTTP errors here, the rest by `toAppError`. */
export function asAppError(e: unknown): AppError {
  if (e instanceof HTTPException) {
    const code = CODE_BY_STATUS[e.status] ?? "INTERNAL";
    const message = e.status === 400 && /json/i.test(e.message) ? "Request body is not valid JSON" : e.message || code;
    return new AppError(code, message);
  }
  return toAppError(e);
}

/** The API.md failure envelope with the status its code maps to; a failed query's answer names the query (x-query-id). */
export function errorResponse(c: Context<GatewayEnv>, err: AppError): Response {
  const status = ERROR_STATUS[err.code];
  const body = { success: false as const, error: err.message, code: err.code, ...(err.details ? { details: err.details } : {}) };
  const queryId = c.get("queryId");
  return c.json(body, status as 400, queryId ? { "x-query-id": queryId } : undefined);
}
