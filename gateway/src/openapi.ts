import type { Context } from "hono";
import { extendZodWithOpenApi, type OpenAPIHono, type RouteConfig, type RouteHandler } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, describeIssues, ErrorEnvelopeSchema } from "@dsb/contracts";
import type { GatewayEnv } from "./deps.ts";
import { deepFreeze, memo } from "./memo.ts";

// The contracts import zod directly; give their schemas the .openapi() the registry needs
// (under a test runner zod can load twice, as ESM and CJS).
extendZodWithOpenApi(z);

/** Ids are opaque, but never carry control characters (a NUL reached PostgreSQL as a 500). */
export const PathIdSchema = z.string().min(1).max(128).regex(/^[^\u0000-\u001f\u007f]+$/);
export const IdParams = z.object({ id: PathIdSchema });

export const BEARER = [{ bearerAuth: [] }];
/** Every route's `default` response: the API.md failure envelope. */
export const FAILURE = { description: "Failure envelope", content: { "application/json": { schema: ErrorEnvelopeSchema } } };

/** A documented response: JSON of `schema`, and any text media types beside it (a streamed export). */
export function json(description: string, schema: z.ZodType, textTypes: string[] = []) {
  const content: Record<string, { schema: z.ZodType | { type: "string" } }> = { "application/json": { schema } };
  for (const t of textTypes) content[t] = { schema: { type: "string" } };
  return { description, content };
}

/** A required JSON request body of `schema`. */
export const jsonBody = <S extends z.ZodType>(schema: S) => ({ required: true, content: { "application/json": { schema } } });

export const ok = <T extends z.ZodRawShape>(shape: T) => z.object({ success: z.literal(true), ...shape });

const badParam = (e: z.ZodError) => new AppError("VALIDATION", `Path parameter ${String(e.issues[0]?.path[0])} is not valid`);

/** OpenAPIHono's defaultHook: a refused path parameter is the 400 VALIDATION envelope with the sentence it always had. */
export function validationHook(result: { success: boolean; target: string; error?: z.ZodError }): void {
  if (result.success) return;
  throw result.target === "param" ? badParam(result.error!) : new AppError("VALIDATION", describeIssues(result.error!));
}

/** What a route's handler receives: the context typed by the route (`c.req.valid("param" | "query" | "json")`). */
export type RouteContext<R extends RouteConfig> = Parameters<RouteHandler<R, GatewayEnv>>[0];

/**
 * `app.openapi(route, handler)`: the document is generated from the route as declared and the
 * library checks the path parameters. The query string and the JSON body are checked here, after
 * the path and with the same 400s as before, because the library's checks differ from the
 * contract's: it reads a repeated query key as an array (`?limit=5&limit=6` is limit 5 here), gates
 * the body by Content-Type (a 415 for `curl -d`'s form type and fetch's text/plain default, both
 * read as JSON here) and would read a multipart upload whole into memory (left to its stream here).
 * `hot`: the path parameters are checked here too, in the handler: the library's check is one more
 * async middleware per request, 2-4 µs of CPU more in a micro benchmark, which the small query pays.
 */
export function route<R extends RouteConfig>(app: OpenAPIHono<GatewayEnv>, spec: R, handler: (c: RouteContext<R>) => Response | Promise<Response>, opts: { hot?: boolean } = {}): void {
  app.openAPIRegistry.registerPath(spec);
  const { body, query, params, ...request } = spec.request ?? {};
  const media = body?.content["application/json"];
  const checks = {
    params: opts.hot && isZod(params) ? params : undefined,
    query: isZod(query) ? query : undefined,
    body: media && "schema" in media && isZod(media.schema) ? media.schema : undefined,
  };
  const checked = checks.params || checks.query || checks.body ? withChecks(checks, handler, opts.hot) : handler;
  // Typed by RouteContext above; the library's own handler type would also demand typed responses.
  app.openapi({ ...spec, request: { ...request, ...(opts.hot ? {} : { params }) }, hide: true }, checked as never);
}

// Duck-typed: under a test runner the contracts' zod may be another copy than this file's.
const isZod = (s: unknown): s is z.ZodType => typeof (s as { safeParse?: unknown } | undefined)?.safeParse === "function";

const notJson = () => new AppError("VALIDATION", "Request body must be valid JSON (Content-Type: application/json)");

/** Bodies up to this many characters are memoised on hot routes (`validBody`). */
const MEMO_BODY_CHARS = 2048;

/**
 * The body's text as the route's validated value: JSON.parse, then the schema. On a `hot`
 * route (the query) the result is memoised by the exact text, deep-frozen since every request
 * with that text shares it: clients repeat the same bodies (dashboards, the cached query), and
 * parsing plus zod is a measurable share of a cached answer. Only the query body, whose values
 * history keeps anyway: no connection config (credentials) is held here.
 */
function bodyValidator(schema: z.ZodType, hot: boolean | undefined): (text: string) => object {
  const validate = (text: string): object => {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw notJson();
    }
    const b = schema.safeParse(raw);
    if (!b.success) throw new AppError("VALIDATION", `Invalid request body: ${describeIssues(b.error)}`);
    return b.data as object;
  };
  if (!hot) return validate;
  const remembered = memo(256, (text) => deepFreeze(validate(text)));
  return (text) => (text.length <= MEMO_BODY_CHARS ? remembered(text) : validate(text));
}

/** The path parameters as the route's validated value; `hot`: remembered by value for a route with one parameter (an id is valid every time it comes). */
function paramsValidator(schema: z.ZodType, hot: boolean | undefined): (c: Context<GatewayEnv>) => object {
  const validate = (raw: Record<string, string>): object => {
    const p = schema.safeParse(raw);
    if (!p.success) throw badParam(p.error);
    return p.data as object;
  };
  const names = Object.keys((schema as { shape?: Record<string, unknown> }).shape ?? {});
  if (!hot || names.length !== 1) return (c) => validate(c.req.param());
  const name = names[0]!;
  const remembered = memo(1024, (value) => deepFreeze(validate({ [name]: value })));
  return (c) => {
    const value = c.req.param(name);
    return value === undefined ? validate(c.req.param()) : remembered(value);
  };
}

/** The query string as the route's validated value; `hot`: an absent query string's value is made once. */
function queryValidator(schema: z.ZodType, hot: boolean | undefined): (c: Context<GatewayEnv>) => object {
  const validate = (raw: Record<string, string>): object => {
    const q = schema.safeParse(raw);
    if (!q.success) throw new AppError("VALIDATION", `Invalid query string: ${describeIssues(q.error)}`);
    return q.data as object;
  };
  if (!hot) return (c) => validate(c.req.query());
  let none: object | undefined;
  return (c) => (c.req.url.includes("?") ? validate(c.req.query()) : (none ??= deepFreeze(validate({}))));
}

function withChecks<C extends Context<GatewayEnv>>(checks: { params?: z.ZodType; query?: z.ZodType; body?: z.ZodType }, handler: (c: C) => Response | Promise<Response>, hot?: boolean) {
  const validBody = checks.body && bodyValidator(checks.body, hot);
  const validParams = checks.params && paramsValidator(checks.params, hot);
  const validQuery = checks.query && queryValidator(checks.query, hot);
  return async (c: C): Promise<Response> => {
    if (validParams) c.req.addValidatedData("param", validParams(c));
    if (validQuery) c.req.addValidatedData("query", validQuery(c));
    // Parsed from the text Hono keeps (limitJsonDepth read it): c.req.json() after c.req.text()
    // builds a whole Response just to parse the same string again.
    if (validBody) {
      let text: string;
      try {
        text = await c.req.text();
      } catch {
        throw notJson();
      }
      c.req.addValidatedData("json", validBody(text));
    }
    return handler(c);
  };
}
