import { ApiError } from "./api.ts";

/** Which form field an error concerns, so the console can show it next to that field. */
export function fieldOfError(e: unknown, fields: readonly string[]): string | null {
  if (!(e instanceof ApiError)) return null;
  const has = (f: string) => fields.includes(f);
  const detail = e.details?.field;
  if (typeof detail === "string" && has(detail)) return detail;
  if (e.code === "ADDRESS_NOT_ALLOWED") return has("host") ? "host" : null;
  const m = e.message;
  if (e.code === "VALIDATION") {
    // "Invalid postgresql config: host: host is required; port: …" or "Unknown field passwrd (did you mean password?)"
    for (const match of m.matchAll(/(?:^|[:;]\s*|field\s+)([a-z_]+)(?:\.[a-z_]+)*(?::|\b)/gi)) {
      const f = match[1]!;
      if (has(f)) return f;
    }
    const named = fields.find((f) => new RegExp(`\\b${f}\\b`, "i").test(m));
    return named ?? null;
  }
  if (e.code === "CONNECTION_FAILED") {
    const rules: [RegExp, string][] = [
      [/\bssh\b/i, "ssh"],
      [/password|authenticat|access denied|login failed/i, "password"],
      [/database .*(does not exist|unknown)|unknown database/i, "database"],
      [/(role|user) .*(does not exist|unknown)/i, "username"],
      [/\b(ssl|tls|certificate)\b/i, "ssl"],
      [/ENOTFOUND|getaddrinfo|resolve|ECONNREFUSED|refused|timed? ?out|unreachable|EHOSTUNREACH|\bhost\b/i, "host"],
      [/\baccount\b/i, "account"],
      [/credentials|service account/i, "credentials"],
    ];
    for (const [re, f] of rules) if (re.test(m) && has(f)) return f;
  }
  return null;
}
