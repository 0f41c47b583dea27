import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { openDatabase } from "./open.ts";
import type { CatalogDb } from "./types.ts";
import { createScratchDatabase } from "../../../../test/support/pg.ts";

describe("catalog database pool under load", () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let db: CatalogDb;
  beforeAll(async () => {
    scratch = await createScratchDatabase("dsb_catalog_pool");
    db = await openDatabase({ DATABASE_URL: scratch.url, DATA_DIR: "/nonexistent", BUS_TIMEOUT_MS: 30_000 });
  });
  afterAll(async () => {
    await db?.destroy();
    await scratch?.drop();
  });

  it("serves requests queued behind the 10 clients longer than a connect may take (no 'database unavailable' for a busy pool)", async () => {
    // 40 statements of 2 s on 10 clients: the last ones wait ~6 s for a client, past the 5 s connect bound.
    const runs = await Promise.allSettled(Array.from({ length: 40 }, () => sql`select pg_sleep(2)`.execute(db)));
    expect(runs.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
  }, 60_000);
});
