import { config } from "zod";

// zod probes `new Function` to speed up parsing; under the console's CSP (no 'unsafe-eval') that
// probe is a reported violation. Set before the contracts' schemas are built (sql-preview.ts imports this first).
config({ jitless: true });
