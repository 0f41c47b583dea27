import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "@dsb/contracts";
import type { Bus } from "@dsb/bus";
import { testBus, uniqueId } from "@dsb/runtime/testing";
import { Fernet } from "../crypto/fernet.ts";
import { startCatalog } from "../index.ts";
import { capturedLogger, pgliteBackend, postgresBackend, testEnv, type Backend } from "../../../../test/support/catalog/backends.ts";

/** catalog.history.record_batch under a burst of one-record batches: batched inserts keep order and tenant checks. */
let bus: Bus;
beforeAll(async () => { bus = await testBus("catalog-history"); });
afterAll(async () => { await bus?.close(); });

describe.each([["postgresql", postgresBackend], ["pglite", pgliteBackend]] as const)("history writes in bursts on %s", (_name, open) => {
  let backend: Backend;
  let catalog: { stop(): Promise<void> };
  const alice: Actor = { tenant_id: uniqueId("tenantH-"), user_id: "alice" };
  const eve: Actor = { tenant_id: uniqueId("tenantE-"), user_id: "eve" };

  beforeAll(async () => {
    backend = await open();
    catalog = await startCatalog({ env: testEnv({ ...backend.envVars, ENCRYPTION_KEY: Fernet.generateKey() }), bus, log: capturedLogger("catalog").log, replicaId: uniqueId("r"), db: backend.db });
  });
  afterAll(async () => {
    await catalog?.stop();
    await backend?.close();
  });

  it("records 300 concurrent entries in arrival order and refuses other tenants' ones", async () => {
    const { source } = await bus.request("catalog.source.create", { actor: alice, source: { name: "f", type: "file", format: "csv", file_path: `${alice.tenant_id}/k.csv` } });
    const entry = (n: number) => ({
      data_source_id: source.id, query: `select ${n}`, query_config: null, natural_language_query: null,
      status: "success" as const, error: null, result_count: n, execution_time_ms: 1,
    });
    const results = await Promise.all(Array.from({ length: 300 }, (_, n) =>
      bus.request("catalog.history.record_batch", { records: [{ actor: n % 10 === 9 ? eve : alice, entry: entry(n) }] })));
    // Eve's entries name Alice's source: refused (null), not recorded.
    expect(results.filter((r) => r.ids[0] === null)).toHaveLength(30);
    const listed: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await bus.request("catalog.history.list", { actor: alice, data_source_id: source.id, limit: 100, cursor });
      listed.push(...page.queries.map((q) => q.result_count!));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    const expected = Array.from({ length: 300 }, (_, n) => n).filter((n) => n % 10 !== 9).reverse();
    expect(listed).toEqual(expected);
  });

  it("stores text that array literals quote or escape exactly as sent (the columns travel as array parameters)", async () => {
    const { source } = await bus.request("catalog.source.create", { actor: alice, source: { name: "q", type: "file", format: "csv", file_path: `${alice.tenant_id}/q.csv` } });
    const texts = ["NULL", "null", "", 'a "quoted" \\ back\\slash', "{1,2}", "a,b", " padded ", "line\nbreak\ttab", "ünï €", "x\u0000y"];
    const records = texts.map((text, n) => ({ actor: alice, entry: {
      data_source_id: source.id, query: text, natural_language_query: text, error: text, status: "error" as const,
      query_config: n % 2 ? { text, nested: { list: [text, null] } } : null, result_count: n % 3 ? n : null, execution_time_ms: n % 4 ? null : n,
      ...(n % 5 ? { cached: n % 2 === 0 } : {}),
    } }));
    const { ids } = await bus.request("catalog.history.record_batch", { records });
    expect(ids.every((id) => id !== null)).toBe(true);
    const page = await bus.request("catalog.history.list", { actor: alice, data_source_id: source.id, limit: 100 });
    const stored = (t: string) => t.replace("\u0000", "\uFFFD");
    expect(page.queries.reverse().map((q) => [q.query, q.natural_language_query, q.error, q.query_config, q.result_count, q.execution_time_ms])).toEqual(
      records.map(({ entry: e }) => [stored(e.query), stored(e.natural_language_query), stored(e.error),
        e.query_config && { text: stored(e.query_config.text), nested: { list: [stored(e.query_config.text), null] } }, e.result_count, e.execution_time_ms]));
  });

  it("a batch sent again (the gateway retrying after a lost reply) records each entry once; an id of another tenant is not taken over", async () => {
    const { source } = await bus.request("catalog.source.create", { actor: alice, source: { name: "g", type: "file", format: "csv", file_path: `${alice.tenant_id}/r.csv` } });
    const { source: eveSource } = await bus.request("catalog.source.create", { actor: eve, source: { name: "e", type: "file", format: "csv", file_path: `${eve.tenant_id}/r.csv` } });
    const ids = Array.from({ length: 5 }, () => crypto.randomUUID());
    const records = ids.map((id, n) => ({ actor: alice, entry: {
      id, data_source_id: source.id, query: `select ${n}`, query_config: null, natural_language_query: null,
      status: "success" as const, error: null, result_count: n, execution_time_ms: 1,
    } }));
    expect((await bus.request("catalog.history.record_batch", { records })).ids).toEqual(ids);
    // The retry, with one entry twice in the same statement: every id counts as recorded.
    expect((await bus.request("catalog.history.record_batch", { records: [...records, records[0]!] })).ids).toEqual([...ids, ids[0]]);
    // Another tenant sending an existing id gets nothing recorded and learns nothing.
    const stolen = { actor: eve, entry: { ...records[1]!.entry, data_source_id: eveSource.id, query: "select 'eve'" } };
    expect((await bus.request("catalog.history.record_batch", { records: [stolen] })).ids).toEqual([null]);
    const page = await bus.request("catalog.history.list", { actor: alice, data_source_id: source.id, limit: 100 });
    expect(page.queries.map((q) => q.id).sort()).toEqual([...ids].sort());
    expect(page.queries.map((q) => q.query)).not.toContain("select 'eve'");
    expect((await bus.request("catalog.history.list", { actor: eve, data_source_id: eveSource.id, limit: 100 })).queries).toEqual([]);
  });
});
