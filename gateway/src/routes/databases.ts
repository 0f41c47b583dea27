import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  AppError, DATABASES, DatabaseInfoSchema, DataSourceSchema, LoginWarningSchema, parseClientDatabaseConfig, pinSshHostKey, type DatabaseConfig,
} from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { errorResponse } from "../errors.ts";
import { BEARER, FAILURE, json, jsonBody, ok, route } from "../openapi.ts";

/** Documented shape; parseClientDatabaseConfig does the real validation (aliases, defaults, unknown fields). */
const ConfigBody = z.record(z.string(), z.unknown()).meta({ description: "A database config (see DatabaseConfig)" });
/** Warnings about a login that works but can do more than read data (superuser, server files). */
const Warnings = z.array(LoginWarningSchema).meta({ description: "The login works but can do more than read data; empty when there is nothing to say" });
const TestReply = ok({ message: z.string(), latency_ms: z.number(), server_version: z.string().nullable(), warnings: Warnings,
  ssh_host_key_sha256: z.string().optional().meta({ description: "The SSH server's host key fingerprint the test saw (configs with ssh); connect stores it" }) });

/** A test that reached the connector but could not connect: still 200, as the old client expects. */
const FailedTestReply = z.object({ success: z.literal(false), error: z.string(), code: z.literal("CONNECTION_FAILED") });

const defaultName = (c: DatabaseConfig) => {
  if (c.type === "bigquery") return `BigQuery ${c.project_id}`;
  if (c.type === "snowflake") return `Snowflake ${c.account}${c.database ? `/${c.database}` : ""}`;
  const host = c.host ?? "connection string";
  return `${DATABASES[c.type].label} ${host}${c.database ? `/${c.database}` : ""}`;
};

/** Supported types, connection test and connect. */
export function databaseRoutes(app: OpenAPIHono<GatewayEnv>, { bus, log }: GatewayDeps): void {

  route(app, createRoute({
    method: "get", path: "/api/data/databases", tags: ["databases"], summary: "Supported database types and their fields", security: BEARER,
    responses: { 200: json("Types", ok({ databases: z.array(DatabaseInfoSchema) })), default: FAILURE },
  }), async (c) => c.json({ success: true, databases: Object.values(DATABASES) }));

  route(app, createRoute({
    method: "post", path: "/api/data/database/test", tags: ["databases"], summary: "Test a config; stores nothing", security: BEARER,
    request: { body: jsonBody(ConfigBody) },
    responses: { 200: json("Result; a failed test is success:false with code CONNECTION_FAILED", z.union([TestReply, FailedTestReply])), default: FAILURE },
  }), async (c) => {
    const config = parseClientDatabaseConfig(c.req.valid("json"));
    try {
      const r = await bus.request("connector.test", { config }, { requestId: c.get("requestId"), timeoutMs: 45_000 });
      return c.json({ success: true, ...r });
    } catch (e) {
      if (e instanceof AppError && e.code === "CONNECTION_FAILED") return c.json({ success: false, error: e.message, code: e.code });
      throw e;
    }
  });

  route(app, createRoute({
    method: "post", path: "/api/data/database/connect", tags: ["databases"], summary: "Test, encrypt, store and introspect a database", security: BEARER,
    request: { body: jsonBody(ConfigBody) },
    responses: { 201: json("Stored source (secrets redacted)", ok({ data_source: DataSourceSchema, warning: z.string().optional(), warnings: Warnings })), default: FAILURE },
  }), async (c) => {
    // The name is validated with the config (length, before any dial) but stored beside it, not in it.
    const tested: DatabaseConfig = parseClientDatabaseConfig(c.req.valid("json"));
    const name = tested.name;
    delete tested.name;
    const actor = c.get("actor");
    const requestId = c.get("requestId");
    const { warnings, ssh_host_key_sha256 } = await bus.request("connector.test", { config: tested }, { requestId, timeoutMs: 45_000 });
    const config = pinSshHostKey(tested, ssh_host_key_sha256);
    let schema;
    let warning: string | undefined;
    try {
      const live = await bus.request("connector.introspect", { tenant_id: actor.tenant_id, config }, { requestId, timeoutMs: 120_000 });
      if (!("schema" in live)) throw new AppError("INTERNAL", "Compressed schema reply to a request that did not ask for one");
      schema = live.schema;
    } catch (e) {
      if (e instanceof AppError && e.code === "ADDRESS_NOT_ALLOWED") return errorResponse(c, e);
      log?.warn({ requestId, code: e instanceof AppError ? e.code : "INTERNAL" }, "⚠️ introspection after connect failed; stored without schema");
      warning = "Connected, but the schema could not be read yet; fetch it with ?refresh=true";
    }
    const sourceName = name ?? defaultName(config);
    const { source } = await bus.request("catalog.source.create", {
      actor, source: { name: sourceName, type: "database", db_type: config.type, connection_config: config as Record<string, unknown>, ...(schema ? { schema } : {}) },
      echo: false, // the schema is here already: it need not cross the bus back
    }, { requestId });
    return c.json({ success: true, data_source: { ...source, schema: schema ?? null }, ...(warning ? { warning } : {}), warnings }, 201);
  });
}
