import type { Handlers, RequestContext } from "@dsb/bus";
import { databaseUnavailable, isDatabaseUnavailable } from "../db/unavailable.ts";
import { configHandlers } from "./config.ts";
import type { CatalogDeps } from "./deps.ts";
import { fileHandlers } from "./files.ts";
import { healthHandlers } from "./health.ts";
import { historyHandlers } from "./history.ts";
import { schemaHandlers } from "./schema.ts";
import { sourceHandlers } from "./sources.ts";
import { statsHandlers } from "./stats.ts";
import { updateHandlers } from "./update.ts";

export type CatalogSubject =
  | "catalog.source.create" | "catalog.source.get" | "catalog.source.list" | "catalog.source.delete"
  | "catalog.schema.put" | "catalog.schema.touch" | "catalog.config.resolve" | "catalog.history.record_batch" | "catalog.history.list"
  | "catalog.files.referenced" | "catalog.source.update" | "catalog.health.test" | "catalog.health.get" | "catalog.health.list"
  | "catalog.stats.source" | "catalog.stats.tenant";

/** Every catalog.* subject of libs/contracts; while the database is away each answers 503 UNAVAILABLE. */
export function catalogHandlers(deps: CatalogDeps): Handlers<CatalogSubject> {
  return whileDatabaseAway({
    ...sourceHandlers(deps), ...schemaHandlers(deps), ...configHandlers(deps), ...historyHandlers(deps), ...fileHandlers(deps), ...updateHandlers(deps), ...healthHandlers(deps), ...statsHandlers(deps),
  });
}

/** A lost or refused database connection becomes a retryable UNAVAILABLE instead of a 500. */
function whileDatabaseAway<N extends CatalogSubject>(handlers: Handlers<N>): Handlers<N> {
  const wrapped = {} as Record<N, unknown>;
  for (const name of Object.keys(handlers) as N[]) {
    const handler = handlers[name] as (req: unknown, ctx: RequestContext) => Promise<unknown>;
    wrapped[name] = async (req: unknown, ctx: RequestContext) => {
      try {
        return await handler(req, ctx);
      } catch (e) {
        throw isDatabaseUnavailable(e) ? databaseUnavailable(e) : e;
      }
    };
  }
  return wrapped as Handlers<N>;
}

export type { CatalogDeps } from "./deps.ts";
