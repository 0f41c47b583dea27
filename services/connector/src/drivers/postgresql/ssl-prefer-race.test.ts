import { expect, it } from "vitest";
import { postgresqlDriver } from "./driver.ts";
it("concurrent first queries under sslmode prefer all succeed", async () => {
  const conn = await postgresqlDriver.connect({ type: "postgresql", host: "127.0.0.1", port: 5432, database: "postgres", username: "postgres", allow_writes: false, ssl: { mode: "prefer" } } as never, [{ address: "127.0.0.1", hostname: "127.0.0.1", port: 5432 }]);
  const results = await Promise.allSettled(Array.from({ length: 12 }, async () => {
    const q = await conn.query("select 1", [], { readOnly: true, timeoutMs: 5000, signal: new AbortController().signal, batchRows: 10 });
    const rows = []; for (let r = await q.batches.next(); !r.done; r = await q.batches.next()) rows.push(...r.value);
    return rows;
  }));
  await conn.close();
  expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
});
