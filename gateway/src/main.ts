import { main } from "./node.ts";

/** Standalone gateway process (distributed mode). */
main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
