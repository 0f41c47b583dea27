import { runService } from "@dsb/runtime";
import { startCatalog } from "./index.ts";

/** Standalone catalog process (distributed mode, or embedded for a quick look). */
await runService("catalog", startCatalog);
