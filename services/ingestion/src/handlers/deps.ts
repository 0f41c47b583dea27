import { AppError } from "@dsb/contracts";
import type { Bus } from "@dsb/bus";
import type { Logger } from "@dsb/runtime";
import type { BlobStore } from "@dsb/storage";
import type { DatasetCache } from "../query/load.ts";

/** What every ingestion handler works with. */
export interface IngestionDeps {
  bus: Bus;
  log: Logger;
  store: BlobStore;
  cache: DatasetCache;
  replicaId: string;
  /** Uploads being parsed here, which the sweep must not touch. */
  busy: Set<string>;
}

/** Uploads are keyed `${tenant_id}/…`; a key of another tenant is as good as missing. */
export function ownKey(tenantId: string, key: string): void {
  if (!key.startsWith(`${tenantId}/`)) throw new AppError("NOT_FOUND", "Stored file not found");
}
