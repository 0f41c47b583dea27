import type { Context } from "hono";
import { extendZodWithOpenApi, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, describeIssues, ErrorEnvelopeSchema } from "@dsb/contracts";
import type { GatewayEnv } from "./deps.ts";

// The contracts import zod directly; give their schemas the .openapi() the registry needs
// (under a test runner zod can load twice, as ESM and CJS).
extendZodWithOpenApi(z);

type Method = "get" | "post" | "delete" | "put" | "patch";

export interface RouteSpec<B extends z.ZodType | undefined, Q extends z.ZodType | undefined, P extends string = string> {
  method: Method;
  /** OpenAPI style path: /api/data/sources/{id} */
  path: P;
  summary: string;
  tag: string;
  body?: B;
  query?: Q;
  /** Extra request content types documented (multipart upload). */
  requestContent?: Record<string, { schema: z.ZodType }>;
  /** status → schema of the JSON body (documented), or a text media type. */
  responses: Record<number, { description: string; schema?: z.ZodType; mediaTypes?: string[] }>;
  auth?: boolean;
}

/** The `{name}` segments of an OpenAPI path, as a union of names. */
type PathParamNames<P extends string> = P extends `${string}{${infer N}}${infer Rest}` ? N | PathParamNames<Rest> : never;
/** Path parameters by name, typed from the path itself (each checked by PathIdSchema before the handler runs). */
export type PathParams<P extends string> = { [K in PathParamNames<P>]: string };

type Input<B, Q, P extends string> = {
  body: B extends z.ZodType ? z.output<B> : undefined;
  query: Q extends z.ZodType ? z.output<Q> : undefined;
  params: PathParams<P>;
};

/** Ids are opaque, but never carry control characters (a NUL reached PostgreSQL as a 500). */
const PathIdSchema = z.string().min(1).max(128).regex(/^[^\u0000-\u001f\u007f]+$/);

/**
 * Registers a route twice from one spec: in the OpenAPI document and as a
 * Hono handler validating with the same zod schemas.
 */
export function route<B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, P extends string = string>(
  app: OpenAPIHono<GatewayEnv>,
  spec: RouteSpec<B, Q, P>,
  handler: (c: Context<GatewayEnv>, input: Input<B, Q, P>) => Promise<Response>,
): void {
  const params = [...spec.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const responses: Record<string, object> = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    const content: Record<string, object> = {};
    if (r.schema) content["application/json"] = { schema: r.schema };
    for (const t of r.mediaTypes ?? []) content[t] = { schema: { type: "string" } };
    responses[status] = { description: r.description, ...(Object.keys(content).length ? { content } : {}) };
  }
  responses.default = { description: "Failure envelope", content: { "application/json": { schema: ErrorEnvelopeSchema } } };
  app.openAPIRegistry.registerPath({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.auth === false ? {} : { security: [{ bearerAuth: [] }] }),
    request: {
      ...(params.length ? { params: z.object(Object.fromEntries(params.map((p) => [p, PathIdSchema]))) } : {}),
      ...(spec.query ? { query: spec.query as unknown as z.ZodObject } : {}),
      ...(spec.body || spec.requestContent
        ? { body: { required: true, content: { ...(spec.body ? { "application/json": { schema: spec.body } } : {}), ...(spec.requestContent ?? {}) } } }
        : {}),
    },
    responses: responses as never,
  });
  const honoPath = spec.path.replace(/\{(\w+)\}/g, ":$1");
  app.on(spec.method.toUpperCase(), honoPath, async (c) => {
    const input = { params: c.req.param() as PathParams<P> } as Input<B, Q, P>;
    for (const p of params) {
      const v = PathIdSchema.safeParse(c.req.param(p));
      if (!v.success) throw new AppError("VALIDATION", `Path parameter ${p} is not valid`);
    }
    if (spec.query) {
      const q = spec.query.safeParse(c.req.query());
      if (!q.success) throw new AppError("VALIDATION", `Invalid query string: ${describeIssues(q.error)}`);
      (input as { query: unknown }).query = q.data;
    }
    if (spec.body) {
      let raw: unknown;
      try {
        // Parsed from the text Hono keeps (limitJsonDepth read it): c.req.json() after c.req.text()
        // builds a whole Response just to parse the same string again.
        raw = JSON.parse(await c.req.text());
      } catch {
        throw new AppError("VALIDATION", "Request body must be valid JSON (Content-Type: application/json)");
      }
      const b = spec.body.safeParse(raw);
      if (!b.success) throw new AppError("VALIDATION", `Invalid request body: ${describeIssues(b.error)}`);
      (input as { body: unknown }).body = b.data;
    }
    return handler(c, input);
  });
}

export const ok = <T extends z.ZodRawShape>(shape: T) => z.object({ success: z.literal(true), ...shape });
