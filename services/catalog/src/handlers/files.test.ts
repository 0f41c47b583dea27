import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "@dsb/contracts";
import type { Bus } from "@dsb/bus";
import { testBus, uniqueId } from "@dsb/runtime/testing";
import { Fernet } from "../crypto/fernet.ts";
import { startCatalog } from "../index.ts";
import { capturedLogger, pgliteBackend, testEnv, type Backend } from "../../../../test/support/catalog/backends.ts";

/** catalog.files.referenced, driven through the bus (PGlite: the query is plain SQL). */
describe("catalog.files.referenced", () => {
  let bus: Bus;
  let backend: Backend;
  let catalog: { stop(): Promise<void> };
  const tenant = uniqueId("tenantF-");
  const other = uniqueId("tenantG-");
  const alice: Actor = { tenant_id: tenant, user_id: "alice" };
  const olga: Actor = { tenant_id: other, user_id: "olga" };
  const fileSource = async (actor: Actor, key: string) =>
    (await bus.request("catalog.source.create", { actor, source: { name: "f", type: "file", format: "csv", file_path: key } })).source;

  beforeAll(async () => {
    bus = await testBus("catalog-files");
    backend = await pgliteBackend();
    catalog = await startCatalog({ env: testEnv({ ...backend.envVars, ENCRYPTION_KEY: Fernet.generateKey() }), bus, log: capturedLogger("catalog").log, replicaId: uniqueId("r"), db: backend.db });
  });
  afterAll(async () => {
    await catalog?.stop();
    await backend?.close();
    await bus?.close();
  });

  it("answers which keys an active source of the key's own tenant references", async () => {
    const kept = `${tenant}/a/kept.csv`;
    const deleted = `${tenant}/b/deleted.csv`;
    const foreign = `${tenant}/c/stored-by-another-tenant.csv`;
    await fileSource(alice, kept);
    const gone = await fileSource(alice, deleted);
    await bus.request("catalog.source.delete", { actor: alice, id: gone.id });
    // A row of another tenant pointing into this tenant's prefix does not count.
    await fileSource(olga, foreign);
    const { referenced } = await bus.request("catalog.files.referenced", { keys: [kept, deleted, foreign, `${tenant}/never/stored.csv`] });
    expect(referenced).toEqual([kept]);
    expect((await bus.request("catalog.files.referenced", { keys: [] })).referenced).toEqual([]);
  });

  it("refuses more than 1000 keys in one request", async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `${tenant}/k${i}`);
    await expect(bus.request("catalog.files.referenced", { keys })).rejects.toMatchObject({ code: "VALIDATION" });
  });
});
