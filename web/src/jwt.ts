/** The claims the console shows (who is signed in, until when); the server verifies the token, not this. */
export interface Claims { sub?: string; exp?: number; role?: string; [k: string]: unknown }

export function readClaims(token: string): Claims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
    const claims = JSON.parse(json) as unknown;
    return claims && typeof claims === "object" ? (claims as Claims) : null;
  } catch {
    return null;
  }
}

export const isExpired = (c: Claims | null, now = Date.now()) => typeof c?.exp === "number" && c.exp * 1000 <= now;
