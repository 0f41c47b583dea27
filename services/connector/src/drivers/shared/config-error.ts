import { AppError } from "@dsb/contracts";

/**
 * The error for a config a driver cannot use as given (a malformed
 * connection_string, a missing host, unusable credentials): the same code,
 * VALIDATION (400), whatever the driver, since the fix is in the request.
 */
export function configError(message: string): AppError {
  return new AppError("VALIDATION", message);
}
