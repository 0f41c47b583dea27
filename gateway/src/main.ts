import { main } from "./node.ts";

/** Standalone gateway process (distributed mode); a failure to start is logged by startProcess's crash handler. */
await main();
