import { natsConnectionOf, runService } from "@dsb/runtime";
import { openBlobStore } from "@dsb/storage";
import { startIngestion } from "./index.ts";

/** Standalone ingestion process (distributed mode, or embedded for local runs). */
await runService("ingestion", async (ctx) => startIngestion({ ...ctx, store: await openBlobStore(ctx.env, natsConnectionOf(ctx.bus)) }));
