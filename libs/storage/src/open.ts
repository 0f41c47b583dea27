import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import type { BlobStore } from "./blob-store.ts";
import { FsBlobStore } from "./fs.ts";

/**
 * The upload store of this process: a JetStream Object Store bucket when a NATS
 * connection is given (distributed mode, any replica reads it; one bucket per
 * BUS_NAMESPACE), else a directory `${DATA_DIR}/uploads` (embedded mode). `recycle`: where the Object
 * Store hands back the payloads of the chunks it fetched and is done with (ingestion: recyclePayload).
 */
export async function openBlobStore(
  env: { DATA_DIR: string; BUS_NAMESPACE?: string }, nc?: NatsConnection, opts: { recycle?(data: Uint8Array): void } = {},
): Promise<BlobStore> {
  if (nc) {
    const { ObjectStoreBlobStore, uploadBucket } = await import("./object-store.ts");
    const { nodeObjectStorePlatform } = await import("./object-store-node.ts");
    return ObjectStoreBlobStore.open(nc, uploadBucket(env.BUS_NAMESPACE), { ...nodeObjectStorePlatform, recycle: opts.recycle });
  }
  return new FsBlobStore(join(env.DATA_DIR, "uploads"));
}
