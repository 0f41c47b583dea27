import { natsConnectionOf, recyclePayload, runService } from "@dsb/runtime";
import { openBlobStore } from "@dsb/storage";
import { startIngestion } from "./index.ts";
import { warmUp } from "./warm-up.ts";

/** Standalone ingestion process (distributed mode, or embedded for local runs). */
await runService("ingestion", async (ctx) => {
  const store = await openBlobStore(ctx.env, natsConnectionOf(ctx.bus), { recycle: recyclePayload });
  await warmUp();
  return startIngestion({ ...ctx, store });
});
