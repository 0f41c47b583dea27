import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { AppError, type Actor, type EventOf, type SourceSchema } from "@dsb/contracts";
import type { Bus } from "@dsb/bus";
import { testBus, uniqueId } from "@dsb/runtime/testing";
import { Fernet, MultiFernet } from "./crypto/fernet.ts";
import { startCatalog } from "./index.ts";
import { rotateKeys } from "./rotate.ts";
import { capturedLogger, pgliteBackend, postgresBackend, testEnv, type Backend } from "../../../test/support/catalog/backends.ts";
import { pythonCredentials } from "../../../test/support/catalog/python.ts";
import { tablesSha256 } from "./handlers/schema-digest.ts";

/**
 * The catalog's contract, driven through the bus only, run once against real
 * PostgreSQL and once against PGlite. The suites run one after the other, so a
 * single catalog answers at a time.
 */
const BACKENDS = [
  { name: "postgresql", make: postgresBackend },
  { name: "pglite", make: pgliteBackend },
] as const;

const PASSWORD = `pw-${uniqueId("")}-s3cret`;
const API_KEY = `ak-${uniqueId("")}`;
const pgConfig = (password = PASSWORD) => ({ type: "postgresql", host: "db.internal", port: 5432, database: "sales", username: "reader", password });

const schemaOf = (tables: { name: string; columns: [string, string][] }[]): SourceSchema => ({
  tables: tables.map((t) => ({ schema: "public", name: t.name, kind: "table" as const, rowCount: 1,
    columns: t.columns.map(([name, type]) => ({ name, type, nullable: true })) })),
  schemas: ["public"], total_rows: tables.length, last_updated: new Date().toISOString(),
});

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp) {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  if (message) expect((err as AppError).message).toMatch(message);
}

// One pair of buses for the file: in-process they share one transport, which closing would end.
let server: Bus;
let client: Bus;
beforeAll(async () => {
  server = await testBus("catalog-server");
  client = await testBus("catalog-client");
});
afterAll(async () => {
  await client?.close();
  if (server !== client) await server?.close();
});

for (const { name, make } of BACKENDS) {
  describe(`catalog contract on ${name}`, () => {
    const oldKey = Fernet.generateKey();
    const newKey = Fernet.generateKey();
    const tenantA = uniqueId("tenantA-");
    const tenantB = uniqueId("tenantB-");
    const alice: Actor = { tenant_id: tenantA, user_id: "alice" };
    const bob: Actor = { tenant_id: tenantA, user_id: "bob" };
    const admin: Actor = { tenant_id: tenantA, user_id: "carol", role: "admin" };
    const mallory: Actor = { tenant_id: tenantB, user_id: "mallory", role: "admin" };
    const { log, lines } = capturedLogger("catalog");
    const events: EventOf<"catalog.events.source.deleted">[] = [];
    let backend: Backend;
    let catalog: { stop(): Promise<void> } | undefined;
    let subscription: { unsubscribe(): void } | undefined;

    const start = async (keys: string) => {
      await catalog?.stop();
      catalog = await startCatalog({ env: testEnv({ ...backend.envVars, ENCRYPTION_KEY: keys }), bus: server, log, replicaId: uniqueId("r"), db: backend.db });
    };
    const rawConfig = async (id: string) =>
      (await backend.db.selectFrom("data_sources").select("connection_config").where("id", "=", id).executeTakeFirstOrThrow()).connection_config!;
    const createDb = async (actor: Actor, password = PASSWORD, extra: Record<string, unknown> = {}) =>
      (await client.request("catalog.source.create", { actor, source: { name: "Sales", type: "database", db_type: "postgresql", connection_config: { ...pgConfig(password), ...extra } } })).source;

    beforeAll(async () => {
      backend = await make();
      subscription = client.subscribe("catalog.events.source.deleted", (e) => void events.push(e));
      await start(oldKey);
    });

    afterAll(async () => {
      await catalog?.stop();
      subscription?.unsubscribe();
      await backend?.close();
    });

    it("creates a database source, encrypts its secrets at rest and replies redacted", async () => {
      const source = await createDb(alice, PASSWORD, { api_key: API_KEY, credentials: { client_email: "x@y", private_key: "PK" } });
      expect(source).toMatchObject({ name: "Sales", type: "database", db_type: "postgresql", user_id: "alice", tenant_id: tenantA, is_active: true });
      expect(source.connection_config).toMatchObject({ host: "db.internal", password: "********", api_key: "********", credentials: "********" });
      expect(source.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
      const wire = JSON.stringify(source);
      for (const leak of [PASSWORD, API_KEY, "gAAAA", "__enc_"]) expect(wire).not.toContain(leak);

      const stored = await rawConfig(source.id);
      expect(stored).toMatchObject({ host: "db.internal", __enc_password: true, __enc_api_key: true, __enc_credentials: "json" });
      expect(String(stored.password)).toMatch(/^gAAAA/);
      expect(JSON.stringify(stored)).not.toContain(PASSWORD);
    });

    it("gets a source by id; other tenants and unknown ids are NOT_FOUND", async () => {
      const created = await createDb(alice);
      const { source } = await client.request("catalog.source.get", { actor: bob, id: created.id });
      expect(source).toEqual(created);
      await expectCode(client.request("catalog.source.get", { actor: mallory, id: created.id }), "NOT_FOUND", /^Data source not found$/);
      await expectCode(client.request("catalog.source.get", { actor: alice, id: "nope" }), "NOT_FOUND");
    });

    it("lists newest first with cursor pagination and a type filter", async () => {
      const actor: Actor = { tenant_id: uniqueId("list-"), user_id: "u" };
      const ids = new Set<string>();
      for (let i = 0; i < 3; i++) ids.add((await createDb(actor)).id);
      for (let i = 0; i < 2; i++)
        ids.add((await client.request("catalog.source.create", { actor, source: { name: `f${i}.csv`, type: "file", format: "csv", file_path: `k/${i}` } })).source.id);

      const seen: { id: string; created_at: string }[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const r = await client.request("catalog.source.list", { actor, limit: 2, ...(cursor ? { cursor } : {}) });
        expect(r.sources.length).toBeLessThanOrEqual(2);
        seen.push(...r.sources);
        cursor = r.next_cursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(new Set(seen.map((s) => s.id))).toEqual(ids);
      const order = [...seen].sort((a, b) => (a.created_at === b.created_at ? b.id.localeCompare(a.id) : b.created_at.localeCompare(a.created_at)));
      expect(seen.map((s) => s.id)).toEqual(order.map((s) => s.id));

      const files = await client.request("catalog.source.list", { actor, type: "file" });
      expect(files.sources.map((s) => s.type)).toEqual(["file", "file"]);
      expect(files.next_cursor).toBeNull();
      await expectCode(client.request("catalog.source.list", { actor, cursor: "garbage" }), "VALIDATION", /cursor/);
    });

    it("tenant B sees nothing of tenant A: get, list, delete, schema, history, config", async () => {
      const { id } = await createDb(alice);
      await expectCode(client.request("catalog.source.get", { actor: mallory, id }), "NOT_FOUND");
      await expectCode(client.request("catalog.source.delete", { actor: mallory, id }), "NOT_FOUND");
      await expectCode(client.request("catalog.schema.put", { actor: mallory, id, schema: schemaOf([]) }), "NOT_FOUND");
      await expectCode(client.request("catalog.history.list", { actor: mallory, data_source_id: id }), "NOT_FOUND");
      expect((await client.request("catalog.history.record_batch", { records: [{ actor: mallory, entry: {
        data_source_id: id, query: "select 1", query_config: null, natural_language_query: null, status: "success", error: null, result_count: 1, execution_time_ms: 1 } }] })).ids).toEqual([null]);
      await expectCode(client.request("catalog.config.resolve", { tenant_id: tenantB, id }), "NOT_FOUND");
      expect((await client.request("catalog.source.list", { actor: mallory })).sources).toEqual([]);
      expect((await client.request("catalog.source.get", { actor: alice, id })).source.id).toBe(id);
    });

    it("only the owner or an admin deletes; delete is soft and publishes an event", async () => {
      const mine = await createDb(alice);
      await expectCode(client.request("catalog.source.delete", { actor: bob, id: mine.id }), "FORBIDDEN", /owner or an admin/);
      const { source } = await client.request("catalog.source.delete", { actor: alice, id: mine.id });
      expect(source.is_active).toBe(false);
      await expectCode(client.request("catalog.source.get", { actor: alice, id: mine.id }), "NOT_FOUND");
      await expectCode(client.request("catalog.source.delete", { actor: alice, id: mine.id }), "NOT_FOUND");
      await expectCode(client.request("catalog.config.resolve", { tenant_id: tenantA, id: mine.id }), "NOT_FOUND");
      expect((await client.request("catalog.source.list", { actor: alice, limit: 500 })).sources.map((s) => s.id)).not.toContain(mine.id);
      const row = await backend.db.selectFrom("data_sources").select("is_active").where("id", "=", mine.id).executeTakeFirstOrThrow();
      expect(row.is_active).toBe(false);

      const bobs = await createDb(bob);
      await client.request("catalog.source.delete", { actor: admin, id: bobs.id });
      await expect.poll(() => events.map((e) => e.id)).toEqual(expect.arrayContaining([mine.id, bobs.id]));
      expect(events.find((e) => e.id === mine.id)).toEqual({ id: mine.id, tenant_id: tenantA, type: "database", file_path: null });
    });

    it("stores a schema and replies with what changed", async () => {
      const { id } = await createDb(alice);
      const first = schemaOf([{ name: "users", columns: [["id", "INTEGER"], ["name", "TEXT"]] }, { name: "old", columns: [["x", "INTEGER"]] }]);
      const r1 = await client.request("catalog.schema.put", { actor: bob, id, schema: first });
      expect(r1.changes.map((c) => c.kind).sort()).toEqual(["table_added", "table_added"]);
      const second = schemaOf([{ name: "users", columns: [["id", "BIGINT"], ["email", "TEXT"]] }]);
      const r2 = await client.request("catalog.schema.put", { actor: alice, id, schema: second });
      expect(r2.schema).toEqual(second);
      expect(r2.changes).toEqual(expect.arrayContaining([
        { kind: "column_retyped", table: "public.users", column: "id", from: "INTEGER", to: "BIGINT" },
        { kind: "column_added", table: "public.users", column: "email", to: "TEXT" },
        { kind: "column_removed", table: "public.users", column: "name", from: "TEXT" },
        { kind: "table_removed", table: "public.old" },
      ]));
      expect((await client.request("catalog.source.get", { actor: alice, id })).source.schema).toEqual(second);
    });

    it("with echo:false replies changes only, and diffs against a schema another writer stored meanwhile", async () => {
      const { id } = await createDb(alice);
      const first = schemaOf([{ name: "users", columns: [["id", "INTEGER"]] }]);
      const r1 = await client.request("catalog.schema.put", { actor: alice, id, schema: first, echo: false });
      expect(r1).toEqual({ changes: [{ kind: "table_added", table: "public.users" }] });
      const r2 = await client.request("catalog.schema.put", { actor: alice, id, schema: first, echo: false });
      expect(r2.changes).toEqual([]);
      const outside = schemaOf([{ name: "users", columns: [["id", "TEXT"]] }]);
      await backend.db.updateTable("data_sources").set({ schema: JSON.stringify(outside) }).where("id", "=", id).execute();
      const r3 = await client.request("catalog.schema.put", { actor: alice, id, schema: first, echo: false });
      expect(r3.changes).toEqual([{ kind: "column_retyped", table: "public.users", column: "id", from: "TEXT", to: "INTEGER" }]);
      expect((await client.request("catalog.source.get", { actor: alice, id })).source.schema).toEqual(first);
    });

    it("schema.touch writes only last_updated when the stored tables hash the same, else asks for a full put", async () => {
      const { id } = await createDb(alice);
      const first = schemaOf([{ name: "users", columns: [["id", "INTEGER"]] }]);
      const sha = tablesSha256(first.tables);
      expect(await client.request("catalog.schema.touch", { actor: alice, id, tables_sha256: sha, last_updated: "2030-01-01T00:00:00.000Z" })).toEqual({ stored: false });
      await client.request("catalog.schema.put", { actor: alice, id, schema: first, echo: false });
      expect(await client.request("catalog.schema.touch", { actor: alice, id, tables_sha256: "other", last_updated: "2030-01-01T00:00:00.000Z" })).toEqual({ stored: false });
      expect(await client.request("catalog.schema.touch", { actor: alice, id, tables_sha256: sha, last_updated: "2030-01-01T00:00:00.000Z" })).toEqual({ stored: true });
      expect((await client.request("catalog.source.get", { actor: alice, id })).source.schema).toEqual({ ...first, last_updated: "2030-01-01T00:00:00.000Z" });
      // A full put afterwards: its own last_updated shows, not the earlier touch's.
      const second = { ...schemaOf([{ name: "users", columns: [["id", "BIGINT"]] }]), last_updated: "2030-02-02T00:00:00.000Z" };
      await client.request("catalog.schema.put", { actor: alice, id, schema: second, echo: false });
      expect((await client.request("catalog.source.get", { actor: alice, id })).source.schema?.last_updated).toBe("2030-02-02T00:00:00.000Z");
      await client.request("catalog.schema.put", { actor: alice, id, schema: first, echo: false });
      // Another write of the row leaves the stored tables (and their hash) as they are.
      await backend.db.updateTable("data_sources").set({ name: "renamed elsewhere" }).where("id", "=", id).execute();
      expect(await client.request("catalog.schema.touch", { actor: alice, id, tables_sha256: sha, last_updated: "2031-01-01T00:00:00.000Z" })).toEqual({ stored: true });
      // The touch's commit does not wait for the WAL flush; the session's own setting is untouched (PGlite: the same session).
      expect((await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(backend.db)).rows[0]!.s).toBe("on");
      // The schema written by something else (the Python system, psql) with the same tables' hash left alone: the
      // trigger clears the hash, so the next refresh stores in full instead of trusting a hash of other tables.
      const elsewhere = schemaOf([{ name: "orders", columns: [["id", "INTEGER"]] }]);
      await backend.db.updateTable("data_sources").set({ schema: JSON.stringify(elsewhere) }).where("id", "=", id).execute();
      expect(await client.request("catalog.schema.touch", { actor: alice, id, tables_sha256: sha, last_updated: "2031-01-01T00:00:00.000Z" })).toEqual({ stored: false });
      // The full put then diffs against what is stored (the other write), not this replica's memory of `first`.
      expect((await client.request("catalog.schema.put", { actor: alice, id, schema: first, echo: false })).changes)
        .toEqual([{ kind: "table_added", table: "public.users" }, { kind: "table_removed", table: "public.orders" }]);
      expect(await client.request("catalog.schema.touch", { actor: alice, id, tables_sha256: sha, last_updated: "2031-01-01T00:00:00.000Z" })).toEqual({ stored: true });
      await expectCode(client.request("catalog.schema.touch", { actor: mallory, id, tables_sha256: sha, last_updated: "x" }), "NOT_FOUND");
      await expectCode(client.request("catalog.schema.touch", { actor: mallory, id, tables_sha256: "other", last_updated: "x" }), "NOT_FOUND");
    });

    it("records query history and lists it newest first, paginated", async () => {
      const { id } = await createDb(alice);
      const entry = (i: number) => ({ data_source_id: id, query: `select ${i}`, query_config: i === 2 ? { table: "t", limit: 5 } : null,
        natural_language_query: i === 1 ? "one" : null, status: i === 3 ? "error" as const : "success" as const,
        error: i === 3 ? "boom" : null, result_count: i, execution_time_ms: 10 * i });
      const ids: string[] = [];
      for (const i of [1, 2, 3]) ids.push((await client.request("catalog.history.record_batch", { records: [{ actor: i === 2 ? bob : alice, entry: entry(i) }] })).ids[0]!);

      const p1 = await client.request("catalog.history.list", { actor: alice, data_source_id: id, limit: 2 });
      expect(p1.queries).toHaveLength(2);
      expect(p1.next_cursor).toEqual(expect.any(String));
      const p2 = await client.request("catalog.history.list", { actor: alice, data_source_id: id, limit: 2, cursor: p1.next_cursor! });
      expect(p2.next_cursor).toBeNull();
      const all = [...p1.queries, ...p2.queries];
      expect(new Set(all.map((q) => q.id))).toEqual(new Set(ids));
      expect(all.map((q) => q.created_at)).toEqual([...all.map((q) => q.created_at)].sort().reverse());
      expect(all.find((q) => q.id === ids[1])).toMatchObject({ user_id: "bob", query: "select 2", query_config: { table: "t", limit: 5 }, status: "success", result_count: 2, execution_time_ms: 20 });
      expect(all.find((q) => q.id === ids[2])).toMatchObject({ status: "error", error: "boom", natural_language_query: null });
      expect(all[0]!.created_at).toMatch(/Z$/);
    });

    it("records a batch of history in order; a record of another tenant's or a deleted source gets null and is not written", async () => {
      const mine = await createDb(alice);
      const gone = await createDb(alice);
      await client.request("catalog.source.delete", { actor: alice, id: gone.id });
      const entry = (data_source_id: string, i: number) => ({ id: randomUUID(), data_source_id, query: `select ${i}`, query_config: null,
        natural_language_query: null, status: "success" as const, error: null, result_count: i, execution_time_ms: i });
      const records = [
        { actor: alice, entry: entry(mine.id, 1) }, { actor: mallory, entry: entry(mine.id, 2) },
        { actor: alice, entry: entry(gone.id, 3) }, { actor: bob, entry: entry(mine.id, 4) },
      ];
      const { ids } = await client.request("catalog.history.record_batch", { records });
      expect(ids).toEqual([records[0]!.entry.id, null, null, records[3]!.entry.id]);
      const listed = (await client.request("catalog.history.list", { actor: alice, data_source_id: mine.id })).queries;
      expect(listed.map((q) => q.query)).toEqual(["select 4", "select 1"]);
      await expectCode(client.request("catalog.history.record_batch", { records: [] }), "VALIDATION");
    });

    it("resolves the decrypted config for the connector, with a version", async () => {
      const created = await createDb(alice, PASSWORD, { credentials: { client_email: "x@y" } });
      const r = await client.request("catalog.config.resolve", { tenant_id: tenantA, id: created.id });
      expect(r).toMatchObject({ id: created.id, db_type: "postgresql", version: expect.stringMatching(/^[0-9a-f]{32}$/) });
      expect(r.config).toEqual({ ...pgConfig(), credentials: { client_email: "x@y" } });
      // The version follows the stored config only: a rename keeps the connector's pools.
      await client.request("catalog.source.update", { actor: alice, id: created.id, patch: { name: "renamed" } });
      expect((await client.request("catalog.config.resolve", { tenant_id: tenantA, id: created.id })).version).toBe(r.version);
      const file = await client.request("catalog.source.create", { actor: alice, source: { name: "f.csv", type: "file", format: "csv", file_path: "k" } });
      await expectCode(client.request("catalog.config.resolve", { tenant_id: tenantA, id: file.source.id }), "VALIDATION", /file/);
    });

    it("decrypts a row written by Python's Fernet with the seed's markers, and reads plaintext rows", async () => {
      const pyConfig = await pythonCredentials("encrypt", oldKey, { ...pgConfig(`${PASSWORD}-py`), token: `tok-${PASSWORD}` });
      expect(pyConfig).toMatchObject({ __enc_password: true, __enc_token: true });
      const insert = (id: string, config: Record<string, unknown>) => backend.db.insertInto("data_sources").values({
        id, name: "legacy", type: "database", format: null, db_type: "postgresql", schema: null,
        connection_config: JSON.stringify(config), file_path: null, user_id: "alice", tenant_id: tenantA }).execute();
      await insert(`py-${name}`, pyConfig);
      await insert(`plain-${name}`, pgConfig(`${PASSWORD}-plain`));

      const py = await client.request("catalog.config.resolve", { tenant_id: tenantA, id: `py-${name}` });
      expect(py.config).toEqual({ ...pgConfig(`${PASSWORD}-py`), token: `tok-${PASSWORD}` });
      const plain = await client.request("catalog.config.resolve", { tenant_id: tenantA, id: `plain-${name}` });
      expect(plain.config).toEqual(pgConfig(`${PASSWORD}-plain`));
      for (const id of [`py-${name}`, `plain-${name}`]) {
        const wire = JSON.stringify(await client.request("catalog.source.get", { actor: alice, id }));
        for (const leak of [PASSWORD, "gAAAA", "__enc_"]) expect(wire).not.toContain(leak);
      }
    });

    it("stores configs that Python's Fernet decrypts with the same key", async () => {
      const { id } = await createDb(alice, `${PASSWORD}-ours`, { api_key: API_KEY });
      const opened = await pythonCredentials("decrypt", oldKey, await rawConfig(id));
      expect(opened).toEqual({ ...pgConfig(`${PASSWORD}-ours`), api_key: API_KEY });
    });

    it("rotates every row to the new key; plaintext rows get encrypted; a second run changes nothing", async () => {
      const ours = await createDb(alice, `${PASSWORD}-rot`, { credentials: { k: "v" } });
      await client.request("catalog.source.delete", { actor: alice, id: ours.id });
      const keys = new MultiFernet([newKey, oldKey]);
      const first = await rotateKeys(backend.db, keys, { batchSize: 3 });
      expect(first.failed).toEqual([]);
      expect(first.rewritten).toBe(first.scanned);

      const rows = await backend.db.selectFrom("data_sources").select(["id", "connection_config"]).where("connection_config", "is not", null).execute();
      const onlyNew = new MultiFernet([newKey]);
      for (const row of rows) {
        const c = row.connection_config!;
        expect(c.__enc_password).toBeTruthy();
        expect(onlyNew.decrypt(String(c.password))).toMatch(/^pw-/);
      }
      const plain = rows.find((r) => r.id === `plain-${name}`)!.connection_config!;
      expect(plain.password).not.toContain(PASSWORD);

      const second = await rotateKeys(backend.db, keys, { batchSize: 3 });
      expect(second).toEqual({ scanned: first.scanned, rewritten: 0, failed: [] });

      await start(newKey);
      const py = await client.request("catalog.config.resolve", { tenant_id: tenantA, id: `py-${name}` });
      expect(py.config.password).toBe(`${PASSWORD}-py`);
      const restored = await backend.db.selectFrom("data_sources").select("connection_config").where("id", "=", ours.id).executeTakeFirstOrThrow();
      expect(await pythonCredentials("decrypt", newKey, restored.connection_config!)).toMatchObject({ password: `${PASSWORD}-rot`, credentials: '{"k":"v"}' });
    });

    it("migrations are idempotent when several replicas start at once", async () => {
      const { migrate } = await import("./db/migrate.ts");
      expect(await Promise.all([migrate(backend.db), migrate(backend.db)])).toEqual([[], []]);
      const r = await sql<{ n: number }>`select count(*)::int as n from catalog_migrations`.execute(backend.db);
      expect(r.rows[0]!.n).toBe(6);
    });

    it("never writes a secret or a token to the logs", () => {
      expect(lines.length).toBeGreaterThan(5);
      const all = lines.join("");
      for (const leak of [PASSWORD, API_KEY, oldKey, newKey, "gAAAA"]) expect(all).not.toContain(leak);
    });
  });
}
