import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import type { MiddlewareHandler } from "hono";
import { AppError, type Actor } from "@dsb/contracts";
import type { GatewayEnv } from "./deps.ts";

export type TokenVerifier = (token: string) => Promise<Actor>;

export interface VerifierOptions {
  secret?: string;
  jwksUrl?: string;
  tenantClaim: string;
  issuer?: string;
  audience?: string;
  /** Refuse tokens without an `exp` claim (JWT_REQUIRE_EXP, default true): such a token would be valid forever. */
  requireExp?: boolean;
}

const unauthorized = (message: string) => new AppError("UNAUTHORIZED", message);

/** Verified tokens are reused for at most this long (and never past their `exp`). */
const VERIFIED_TTL_MS = 60_000;

/**
 * HS256 with a shared secret and/or RS256/ES256 from a JWKS; `alg: none` never passes.
 * A token that verified is remembered until its expiry (at most a minute), since
 * clients send the same token with every request.
 */
export function createVerifier(opts: VerifierOptions): TokenVerifier {
  const verify = createUncachedVerifier(opts);
  const verified = new Map<string, { actor: Actor; until: number }>();
  return async (token) => {
    const hit = verified.get(token);
    if (hit && hit.until > Date.now()) return hit.actor;
    if (hit) verified.delete(token);
    const { actor, exp } = await verify(token);
    if (verified.size >= 10_000) verified.delete(verified.keys().next().value!);
    verified.set(token, { actor, until: Math.min(Date.now() + VERIFIED_TTL_MS, exp ? exp * 1000 : Infinity) });
    return actor;
  };
}

function createUncachedVerifier(opts: VerifierOptions): (token: string) => Promise<{ actor: Actor; exp: number | undefined }> {
  if (!opts.secret && !opts.jwksUrl) throw new Error("Set JWT_SECRET or JWT_JWKS_URL so the gateway can verify tokens");
  const secret = opts.secret ? new TextEncoder().encode(opts.secret) : undefined;
  const jwks = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl)) : undefined;
  const claims = { issuer: opts.issuer, audience: opts.audience };
  return async (token) => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("Malformed bearer token");
    }
    let payload: JWTPayload;
    try {
      if (alg === "HS256" && secret) payload = (await jwtVerify(token, secret, { algorithms: ["HS256"], ...claims })).payload;
      else if ((alg === "RS256" || alg === "ES256") && jwks) payload = (await jwtVerify(token, jwks, { algorithms: ["RS256", "ES256"], ...claims })).payload;
      else throw unauthorized(`Tokens signed with ${alg ?? "no algorithm"} are not accepted`);
    } catch (e) {
      if (e instanceof AppError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw unauthorized("Token expired; sign in again");
      if (e instanceof joseErrors.JWTClaimValidationFailed) throw unauthorized(`Token claim ${e.claim} is not valid`);
      throw unauthorized("Invalid token signature");
    }
    if ((opts.requireExp ?? true) && typeof payload.exp !== "number") throw unauthorized("Token has no exp (expiry) claim; sign tokens with an expiry time");
    const tenant = payload[opts.tenantClaim];
    if (typeof payload.sub !== "string" || !payload.sub) throw unauthorized("Token has no sub (user id) claim");
    if (tenant === undefined || tenant === null || tenant === "") throw unauthorized(`Token has no ${opts.tenantClaim} claim`);
    // A number would be a second spelling of a tenant id (123 and "123"): only a string names a tenant.
    if (typeof tenant !== "string") throw unauthorized(`Token claim ${opts.tenantClaim} must be a string (e.g. "${String(tenant)}"), not a ${typeof tenant}`);
    const role = typeof payload.role === "string" ? payload.role : undefined;
    return { actor: { user_id: payload.sub, tenant_id: tenant, ...(role ? { role } : {}) }, exp: payload.exp };
  };
}

/** Puts the verified actor on the context; 401 envelope otherwise. */
export function requireAuth(verify: TokenVerifier): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
    if (!m) throw unauthorized("Missing bearer token: send Authorization: Bearer <JWT>");
    c.set("actor", await verify(m[1]!));
    await next();
  };
}
