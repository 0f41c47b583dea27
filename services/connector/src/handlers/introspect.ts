import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { RawJson, WithBytes } from "@dsb/bus";
import { AppError, buildSchema, SUBJECTS, type Actor, type ParsedRequestOf, type SchemaChange, type SourceSchema } from "@dsb/contracts";
import { mapDriverError } from "../driver-errors.ts";
import type { TablesJson } from "../drivers/types.ts";
import { leaseSource, resolveSource, throwaway } from "../sources.ts";
import { TablesSink } from "./tables-sink.ts";
import type { ConnectorDeps } from "./deps.ts";

/** How long storing a changed schema may take (megabytes of JSON diffed and written by the catalog). */
export const SCHEMA_PUT_TIMEOUT_MS = 120_000;

/**
 * connector.introspect: the tables of a config being connected, or of a stored
 * source (then stored from here when `store` is given, with the changes).
 */
export async function handleIntrospect(deps: ConnectorDeps, req: ParsedRequestOf<"connector.introspect">) {
  if (req.config) {
    const conn = await throwaway(deps, req.config);
    try {
      return { schema: buildSchema(await conn.introspect()) };
    } catch (e) {
      throw mapDriverError(e, "query");
    } finally {
      await conn.close().catch(() => undefined);
    }
  }
  if (!req.id) throw new AppError("VALIDATION", "Send id (a stored source) or config (a source being connected)");
  if (req.store && req.store.actor.tenant_id !== req.tenant_id) throw new AppError("VALIDATION", "store.actor must belong to tenant_id");
  const src = await resolveSource(deps, req.tenant_id, req.id);
  const lease = await leaseSource(deps, src);
  const sink = new TablesSink(SCHEMA_HEAD, req.gzip_head);
  let live: { json: TablesJson } | { schema: SourceSchema };
  try {
    live = lease.conn.introspectJson ? { json: await lease.conn.introspectJson(sink.table) } : { schema: buildSchema(await lease.conn.introspect()) };
  } catch (e) {
    sink.close();
    throw mapDriverError(e, "query");
  } finally {
    lease.release();
  }
  const actor = req.store?.actor;
  if ("schema" in live) {
    sink.close();
    const { schema } = live;
    const out = actor ? { schema, changes: await storeSchema(deps, actor, src.id, sha256(JSON.stringify(schema.tables)), schema.last_updated, () => schema) } : { schema };
    if (req.gzip_head === undefined) return out;
    // The bytes the bus would have sent: the contract's output (its key order, unknown keys dropped).
    return gzipped(req.gzip_head, [utf8.encode(JSON.stringify(SUBJECTS["connector.introspect"].reply.parse(out)))]);
  }
  // Tables printed as JSON by the database: the reply is assembled as bytes (buildSchema's field order) and never parsed
  // here; the sink encoded, hashed (and compressed) each table as its row arrived.
  const { schemas, totalRows } = live.json;
  const tablesSha256 = sink.finish();
  const lastUpdated = new Date().toISOString();
  const rest = `,"schemas":${JSON.stringify(schemas)},"total_rows":${totalRows},"last_updated":"${lastUpdated}"}`;
  const reply = async (tail: string) => {
    const end = utf8.encode(`${rest}${tail}}`);
    return sink.compressing ? new WithBytes({ gzip: true as const }, await sink.gzipped(end)) : new RawJson([SCHEMA_HEAD, ...sink.pieces, end]);
  };
  if (!actor) return reply("");
  const tablesJson = () => new TextDecoder().decode(Buffer.concat(sink.pieces));
  const changes = await storeSchema(deps, actor, src.id, tablesSha256, lastUpdated, () => JSON.parse(`{"tables":${tablesJson()}${rest}`) as SourceSchema);
  return reply(`,"changes":${JSON.stringify(changes)}`);
}

const utf8 = new TextEncoder();
const SCHEMA_HEAD = utf8.encode('{"schema":{"tables":');
const gzipAsync = promisify(gzip);
const sha256 = (text: string) => createHash("sha256").update(text).digest("base64url");

/**
 * `gzip_head`: the reply's JSON (as pieces) with `head` in place of its opening brace, gzipped
 * (zlib's fastest level, on the thread pool) for a caller that forwards it as an HTTP body.
 */
async function gzipped(head: string, pieces: readonly Uint8Array[]): Promise<WithBytes<{ gzip: true }>> {
  const body = Buffer.concat([utf8.encode(head), pieces[0]!.subarray(1), ...pieces.slice(1)]);
  return new WithBytes({ gzip: true }, await gzipAsync(body, { level: 1 }));
}

/**
 * Stores a fresh schema from here, so it crosses the bus once more instead of twice
 * (gateway → catalog → gateway). Tables unchanged (the usual refresh): the catalog
 * needs only their hash and last_updated, not megabytes of JSON.
 */
async function storeSchema(
  deps: ConnectorDeps, actor: Actor, id: string, tables_sha256: string, lastUpdated: string, schema: () => SourceSchema,
): Promise<SchemaChange[]> {
  const touched = await deps.bus.request("catalog.schema.touch", { actor, id, tables_sha256, last_updated: lastUpdated });
  if (touched.stored) return [];
  return (await deps.bus.request("catalog.schema.put", { actor, id, schema: schema(), echo: false }, { timeoutMs: SCHEMA_PUT_TIMEOUT_MS })).changes;
}
