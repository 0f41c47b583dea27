import { runService } from "@dsb/runtime";
import { startConnector } from "./index.ts";

/** The connector as its own process (distributed mode). */
await runService("connector", startConnector);
