import { natsConnectionOf, runService } from "@dsb/runtime";
import { startGateway } from "./node.ts";

/** Standalone gateway process (distributed mode); it serves /metrics on its own PORT. */
await runService("gateway", async (ctx) => {
  const { openBlobStore } = await import("@dsb/storage");
  return startGateway({ ...ctx, store: await openBlobStore(ctx.env, natsConnectionOf(ctx.bus)) });
}, { metricsPort: false });
