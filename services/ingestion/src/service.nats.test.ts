import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bus } from "@dsb/bus";
import { NatsTransport } from "@dsb/bus/nats";
import { createHash } from "node:crypto";
import { createLogger, parseEnv } from "@dsb/runtime";
import { exactPayloads } from "../../../libs/runtime/src/nats-payloads.ts";
import { uniqueId } from "@dsb/runtime/testing";
import { openBlobStore, ObjectStoreBlobStore, type BlobStore } from "@dsb/storage";
import { startIngestion } from "./index.ts";
import { GUESS_BYTES } from "./formats/csv/index.ts";
import { parquet, workbook } from "../../../test/support/corpus.ts";

/** Distributed mode: real NATS, uploads and datasets in the JetStream Object Store, service and client on separate connections. */
const NATS = process.env.TEST_NATS_URL ?? "127.0.0.1:4222";
const tenant = uniqueId("tenant");
let serverBus: Bus;
let clientBus: Bus;
let store: BlobStore;
let service: { stop(): Promise<void> };
const keys: string[] = [];

beforeAll(async () => {
  // As connectBus does in the service: payloads gathered in pooled buffers, which the CSV reader hands back.
  exactPayloads();
  const t = await NatsTransport.connect({ servers: NATS, name: "ingestion-nats-test" });
  serverBus = new Bus(t);
  clientBus = new Bus(await NatsTransport.connect({ servers: NATS, name: "client-nats-test" }));
  store = await openBlobStore({ DATA_DIR: "/nonexistent" }, t.nc);
  expect(store).toBeInstanceOf(ObjectStoreBlobStore);
  service = await startIngestion({ env: parseEnv({ NATS_URL: NATS }), bus: serverBus, log: createLogger("ingestion", "silent"), replicaId: uniqueId("r"), store });
});
afterAll(async () => {
  for (const k of keys) await clientBus.request("ingestion.discard", { tenant_id: tenant, key: k }).catch(() => {});
  await service?.stop();
  await serverBus?.close();
  await clientBus?.close();
});

async function parse(body: Buffer, filename: string) {
  const key = `${tenant}/${crypto.randomUUID()}/${filename}`;
  keys.push(key);
  await store.put(key, (async function* () { yield body; })(), { maxBytes: 1e9 });
  return { key, ...(await clientBus.request("ingestion.parse", { tenant_id: tenant, key, filename, size: body.length }, { timeoutMs: 60_000 })) };
}

describe("ingestion over NATS with the Object Store", () => {
  it("parses an xlsx stored in the bucket and queries a sheet", async () => {
    const r = await parse(await workbook(), "book.xlsx");
    expect(r.schema.tables.map((t) => t.name)).toEqual(["Orders", "Regions"]);
    const page = await clientBus.request("ingestion.query", { tenant_id: tenant, id: "s", file_path: r.key, query_config: { table: "Regions", select: ["code"] } });
    expect(page.rows).toEqual([["EU"], ["US"]]);
  });

  it("pages a large result through the replica's cursor subject within max_payload", async () => {
    const r = await parse(parquet(30_000), "p.parquet");
    let p = await clientBus.request("ingestion.query", { tenant_id: tenant, id: "s", file_path: r.key, query_config: { select: ["id", "grp", "big"] } });
    let rows = p.rows.length;
    expect(p.cursor?.subject).toMatch(/^ingestion\.cursor\./);
    while (!p.done) {
      p = await clientBus.request("ingestion.cursor.*", { id: p.cursor!.id }, { subject: p.cursor!.subject });
      rows += p.rows.length;
    }
    expect(rows).toBe(30_000);
  });

  it("starts a CSV over when a value past the guessed prefix contradicts it, and the Object Store keeps only the exact dataset", async () => {
    const lines = ["id,n"];
    for (let i = 1, bytes = 0; bytes < GUESS_BYTES * 1.5; i++) { const l = `${i},${i % 1000}`; lines.push(l); bytes += l.length + 1; }
    lines.push("0,not a number");
    const r = await parse(Buffer.from(lines.join("\n") + "\n"), "late.csv");
    const table = r.schema.tables[0]!;
    expect(table.columns.map((c) => `${c.name}:${c.type}`)).toEqual(["id:INTEGER", "n:VARCHAR"]);
    expect(table.rowCount).toBe(lines.length - 1);
    const page = await clientBus.request("ingestion.query", { tenant_id: tenant, id: "s", file_path: r.key, query_config: { select: ["n"], filters: [{ column: "id", op: "=", value: 0 }] } });
    expect(page.rows).toEqual([["not a number"]]);
    const left: string[] = [];
    for await (const o of store.list(`${r.key}.dataset/`)) left.push(o.key);
    expect(left.sort()).toEqual([`${r.key}.dataset/manifest.json`, `${r.key}.dataset/t0.arrow`]);
  });

  /** A CSV past GUESS_BYTES whose first quote comes late: quoted delimiters, doubled quotes, quoted LF and CRLF, empty fields. */
  function lateQuotes(): Buffer {
    const lines = ["id,name,n"];
    for (let i = 1, bytes = 0; bytes < GUESS_BYTES * 2; i++) {
      const l = bytes < GUESS_BYTES * 1.2 ? `${i},plain ${i},${i % 7}` : `${i},${['"a, b"', '"say ""hi"""', '"one\ntwo"', '"x\r\ny"', ""][i % 5]},${i % 3 ? i : ""}`;
      lines.push(l);
      bytes += l.length + 1;
    }
    return Buffer.from(lines.join("\n") + "\n");
  }

  it.each([
    ["late-quotes.csv", lateQuotes],
    ["small.csv", () => Buffer.from("a,b\n1,x\n2,\"y, z\"\n")],
    ["contradiction.csv", () => Buffer.from(["id,n", ...Array.from({ length: 150_000 }, (_, i) => `${i},${i % 1000}`), "0,not a number"].join("\n") + "\n")],
    ["p.parquet", () => parquet(5_000)],
  ])("parses %s followed while it is stored exactly as when stored first", async (filename, make) => {
    const body = await make();
    const stored = await parse(body, filename);
    const key = `${tenant}/${crypto.randomUUID()}/${filename}`;
    keys.push(key);
    const live = store.liveId!();
    const parsing = clientBus.request("ingestion.parse", { tenant_id: tenant, key, filename, size: 0, live }, { timeoutMs: 60_000 });
    // Stored in 256 KiB pieces, so the parse reads chunks while later ones are still to come.
    await store.put(key, (async function* () { for (let at = 0; at < body.length; at += 256 * 1024) yield body.subarray(at, at + 256 * 1024); })(), { maxBytes: 1e9, live });
    const r = await parsing;
    expect(r.schema.tables).toEqual(stored.schema.tables);
    expect(r.row_count).toBe(stored.row_count);
    const q = { query_config: { limit: 5, order_by: [{ column: r.schema.tables[0]!.columns[0]!.name, desc: true }] } };
    const [a, b] = await Promise.all([key, stored.key].map((file_path) => clientBus.request("ingestion.query", { tenant_id: tenant, id: "s", file_path, ...q })));
    expect(a!.rows).toEqual(b!.rows);
  });

  it("writes the same dataset bytes for a multi-MiB CSV followed as stored, its chunk buffers reused on the way", async () => {
    // Rows of varied widths, so a chunk overwritten by a later one while still read would shift or break rows.
    const row = (i: number) => `${i},${"word".repeat(i % 13)}${i},${(i * 0.37).toFixed(2)},2024-${String(1 + (i % 12)).padStart(2, "0")}-${String(1 + (i % 28)).padStart(2, "0")}`;
    const lines = ["id,text,amount,day"];
    for (let i = 1, bytes = 0; bytes < 7 * 1024 * 1024; i++) { const l = row(i); lines.push(l); bytes += l.length + 1; }
    const body = Buffer.from(lines.join("\n") + "\n");
    const stored = await parse(body, "wide.csv");
    const key = `${tenant}/${crypto.randomUUID()}/wide.csv`;
    keys.push(key);
    const live = store.liveId!();
    const parsing = clientBus.request("ingestion.parse", { tenant_id: tenant, key, filename: "wide.csv", size: 0, live }, { timeoutMs: 60_000 });
    await store.put(key, (async function* () { for (let at = 0; at < body.length; at += 256 * 1024) yield body.subarray(at, at + 256 * 1024); })(), { maxBytes: 1e9, live });
    const followed = await parsing;
    expect(followed.row_count).toBe(lines.length - 1);
    expect(stored.row_count).toBe(lines.length - 1);
    const digest = async (k: string) => {
      const h = createHash("sha256");
      for await (const c of store.get(`${k}.dataset/t0.arrow`)) h.update(c);
      return h.digest("hex");
    };
    expect(await digest(key)).toBe(await digest(stored.key));
    for (const id of [1, 40_000, Math.floor(lines.length / 2), lines.length - 2]) {
      const page = await clientBus.request("ingestion.query", { tenant_id: tenant, id: "s", file_path: key, query_config: { select: ["id", "text"], filters: [{ column: "id", op: "=", value: id }] } });
      expect(page.rows, `id ${id}`).toEqual([[id, row(id).split(",")[1]]]);
    }
  });

  it("fails a followed parse when the upload is not stored, leaving no dataset", async () => {
    const key = `${tenant}/${crypto.randomUUID()}/gone.csv`;
    const live = store.liveId!();
    const parsing = clientBus.request("ingestion.parse", { tenant_id: tenant, key, filename: "gone.csv", size: 0, live }, { timeoutMs: 60_000 }).then(() => null, (e: unknown) => e);
    const body = lateQuotes();
    await store.put(key, (async function* () { yield body.subarray(0, GUESS_BYTES * 1.5); throw new Error("client went away"); })(), { maxBytes: 1e9, live }).catch(() => {});
    expect(await parsing).toMatchObject({ code: "UNAVAILABLE" });
    const left: string[] = [];
    for await (const o of store.list(key)) left.push(o.key);
    expect(left).toEqual([]);
  });

  it("discard removes the upload and its dataset from the bucket", async () => {
    const r = await parse(Buffer.from('{"a":1}\n{"a":2}\n'), "d.ndjson");
    expect(await store.exists(`${r.key}.dataset/manifest.json`)).toBe(true);
    expect(await clientBus.request("ingestion.discard", { tenant_id: tenant, key: r.key })).toEqual({ removed: true });
    const left: string[] = [];
    for await (const o of store.list(r.key)) left.push(o.key);
    expect(left).toEqual([]);
  });
});
