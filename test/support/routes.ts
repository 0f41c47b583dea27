import type { z } from "zod";
import { createApp } from "../../gateway/src/app.ts";
import { createVerifier } from "../../gateway/src/auth.ts";
import { JWT_SECRET, type RunningSystem } from "./system.ts";

export interface RouteDef { method: string; path: string; body?: z.ZodType; query?: z.ZodType }

/**
 * Every authenticated route the gateway registers under /api/data, with the zod schemas it
 * validates with (the probes, /docs and the removed Cube.js paths, answered 501 by contract, are left out).
 */
export function registeredRoutes(sys: RunningSystem): RouteDef[] {
  const app = createApp({ bus: sys.system.bus, verifier: createVerifier({ secret: JWT_SECRET, tenantClaim: "tenant_id" }), limits: { maxUploadBytes: 1, maxBodyBytes: 1, queryMaxRows: 1, defaultTimeoutMs: 1, busTimeoutMs: 1 } });
  type Def = { type: string; route?: { method: string; path: string; request?: { body?: { content?: Record<string, { schema?: unknown }> }; query?: unknown } } };
  return (app.openAPIRegistry.definitions as Def[]).filter((d) => d.type === "route" && d.route && d.route.path.startsWith("/api/data/") && !/^\/api\/data\/cube/.test(d.route.path)).map(({ route: r }) => ({
    method: r!.method.toUpperCase(), path: r!.path,
    body: r!.request?.body?.content?.["application/json"]?.schema as z.ZodType | undefined,
    query: r!.request?.query as z.ZodType | undefined,
  }));
}

