import type { Handlers } from "@dsb/bus";
import { configHandlers } from "./config.ts";
import type { CatalogDeps } from "./deps.ts";
import { fileHandlers } from "./files.ts";
import { healthHandlers } from "./health.ts";
import { historyHandlers } from "./history.ts";
import { sourceHandlers } from "./sources.ts";
import { updateHandlers } from "./update.ts";

export type CatalogSubject =
  | "catalog.source.create" | "catalog.source.get" | "catalog.source.list" | "catalog.source.delete"
  | "catalog.schema.put" | "catalog.schema.touch" | "catalog.config.resolve" | "catalog.history.record" | "catalog.history.record_batch" | "catalog.history.list"
  | "catalog.files.referenced" | "catalog.source.update" | "catalog.health.test" | "catalog.health.get" | "catalog.health.list";

/** Every catalog.* subject of libs/contracts. */
export function catalogHandlers(deps: CatalogDeps): Handlers<CatalogSubject> {
  return { ...sourceHandlers(deps), ...configHandlers(deps), ...historyHandlers(deps), ...fileHandlers(deps), ...updateHandlers(deps), ...healthHandlers(deps) };
}

export type { CatalogDeps } from "./deps.ts";
