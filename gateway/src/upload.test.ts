import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "@dsb/bus";
import { AppError, type Actor, type DataSource, type ParsedRequestOf } from "@dsb/contracts";
import { createLogger, parseEnv } from "@dsb/runtime";
import { testBus, uniqueId } from "@dsb/runtime/testing";
import { FsBlobStore, type BlobStore } from "@dsb/storage";
import { startIngestion } from "@dsb/ingestion";
import { displayFilename, handleUpload, sanitizeFilename } from "./upload.ts";

const actor: Actor = { tenant_id: uniqueId("tenant"), user_id: "u1" };
let dir: string;
let bus: Bus;
let store: BlobStore;
let stops: (() => Promise<void>)[] = [];
let catalogFails = false;
const created: ParsedRequestOf<"catalog.source.create">[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dsb-upload-"));
  store = new FsBlobStore(join(dir, "uploads"));
  bus = await testBus("upload-test");
  const ingestion = await startIngestion({ env: parseEnv({ DATA_DIR: dir }), bus, log: createLogger("ingestion", "silent"), replicaId: uniqueId("r"), store });
  // A stand-in catalog on the same bus: records what it was asked to store.
  const catalog = await bus.serve("catalog", {
    "catalog.source.create": async (req) => {
      if (catalogFails) throw new AppError("UNAVAILABLE", "catalog down for the test");
      created.push(req);
      const now = new Date().toISOString();
      const source: DataSource = {
        id: crypto.randomUUID(), name: req.source.name, type: req.source.type, format: req.source.format ?? null, db_type: null,
        schema: req.source.schema ?? null, connection_config: null, file_path: req.source.file_path ?? null,
        user_id: req.actor.user_id, tenant_id: req.actor.tenant_id, is_active: true, created_at: now, updated_at: now,
      };
      return { source };
    },
  }, { replicaId: uniqueId("c") });
  stops = [() => ingestion.stop(), () => catalog.stop()];
});
afterAll(async () => {
  for (const s of stops) await s();
  await bus?.close();
  await rm(dir, { recursive: true, force: true });
});

const form = (parts: Record<string, string | File>) => {
  const fd = new FormData();
  for (const [k, v] of Object.entries(parts)) fd.append(k, v);
  return fd;
};
const request = (body: FormData | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  new Request("http://gw/api/data/upload", { method: "POST", body, headers, ...(body instanceof ReadableStream ? { duplex: "half" } : {}) } as RequestInit);
const upload = (req: Request, maxBytes = 10 * 1024 ** 2) => handleUpload(req, { bus, store, actor, maxBytes });
async function storedKeys(): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(`${actor.tenant_id}/`)) out.push(o.key);
  return out.sort();
}
async function bytesOf(key: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of store.get(key)) parts.push(c);
  return Buffer.concat(parts);
}

describe("handleUpload", () => {
  it("streams a CSV to storage, parses it and registers the source with its schema", async () => {
    const csv = "id,city,amount\n1,Oslo,10.5\n2,Rome,20\n";
    const source = await upload(request(form({ name: "Sales 2024", file: new File([csv], "sales.csv", { type: "text/csv" }) })));
    expect(source).toMatchObject({ name: "Sales 2024", type: "file", format: "csv", tenant_id: actor.tenant_id });
    expect(source.file_path).toMatch(new RegExp(`^${actor.tenant_id}/[0-9a-f-]{36}/sales\\.csv$`));
    const t = source.schema!.tables[0]!;
    expect(t.name).toBe("sales");
    expect(t.rowCount).toBe(2);
    expect(t.columns.map((c) => c.name)).toEqual(["id", "city", "amount"]);
    expect((await bytesOf(source.file_path!)).toString()).toBe(csv);
    const page = await bus.request("ingestion.query", { tenant_id: actor.tenant_id, id: source.id, file_path: source.file_path!, query_config: { filters: [{ column: "city", op: "=", value: "Rome" }] } });
    expect(page.rows).toHaveLength(1);
  });

  it("names the source after the file when no name is sent, and keeps every byte across odd chunk boundaries", async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, s: `v${i}\r\n--not-a-boundary` })).join("\n");
    // Serialise the form, then feed it in ragged chunks so delimiters straddle reads.
    const res = new Response(form({ file: new File([rows], "../../etc/events.ndjson") }));
    const all = new Uint8Array(await res.arrayBuffer());
    let pos = 0;
    let n = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pos >= all.length) { c.close(); return; }
        const size = [1, 7, 4093, 65_536, 13][n++ % 5]!;
        c.enqueue(all.slice(pos, pos + size));
        pos += size;
      },
    });
    const source = await upload(request(stream, { "content-type": res.headers.get("content-type")! }));
    expect(source.name).toBe("events.ndjson");
    expect(source.format).toBe("ndjson");
    expect(source.file_path!.endsWith("/events.ndjson")).toBe(true);
    expect((await bytesOf(source.file_path!)).toString()).toBe(rows);
    expect(source.schema!.total_rows).toBe(20_000);
  });

  it("takes the name field after the file field too", async () => {
    const fd = new FormData();
    fd.append("file", new File(["a;b\n1;2\n"], "semi.csv"));
    fd.append("name", "  Late name  ");
    const source = await upload(request(fd));
    expect(source.name).toBe("Late name");
  });

  it("answers 413 as soon as the file passes the limit and stores nothing", async () => {
    const before = await storedKeys();
    const e = await upload(request(form({ file: new File(["x".repeat(50_000)], "big.csv") })), 10_000).catch((x) => x);
    expect(e).toMatchObject({ code: "PAYLOAD_TOO_LARGE", status: 413, message: "File is larger than the upload limit of 10000 bytes (MAX_UPLOAD_BYTES)" });
    expect(await storedKeys()).toEqual(before);
  });

  it("refuses early from Content-Length without reading the body", async () => {
    // A body that never delivers a byte: reading it would hang, so an answer proves it was not read.
    const body = new ReadableStream<Uint8Array>({ pull: () => new Promise<void>(() => {}) });
    const e = await upload(request(body, { "content-type": "multipart/form-data; boundary=x", "content-length": String(10 ** 9) }), 1000).catch((x) => x);
    expect(e).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  it("needs a field named file", async () => {
    await expect(upload(request(form({ name: "x", document: new File(["a,b\n1,2\n"], "a.csv") })))).rejects.toMatchObject({
      code: "VALIDATION", message: "Send the file in a multipart field named file",
    });
    await expect(upload(new Request("http://gw/api/data/upload", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }))).rejects.toMatchObject({ code: "VALIDATION" });
  });

  it("removes the file when parsing fails (415 for an image) and when the catalog fails", async () => {
    const before = await storedKeys();
    const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001", "hex");
    await expect(upload(request(form({ file: new File([png], "pic.csv") })))).rejects.toMatchObject({ code: "UNSUPPORTED_FORMAT", status: 415 });
    expect(await storedKeys()).toEqual(before);

    catalogFails = true;
    try {
      const n = created.length;
      await expect(upload(request(form({ file: new File(['[{"a":1}]'], "ok.json") })))).rejects.toMatchObject({ code: "UNAVAILABLE" });
      expect(created.length).toBe(n);
    } finally {
      catalogFails = false;
    }
    expect(await storedKeys()).toEqual(before); // neither the upload nor its dataset is left
  });

  it("sanitizes file names", () => {
    expect(sanitizeFilename("..\\..\\win\\a b.csv")).toBe("a b.csv");
    expect(sanitizeFilename("../../.hidden")).toBe("hidden");
    expect(sanitizeFilename("we<ird>|name?.xlsx")).toBe("we_ird__name_.xlsx");
    expect(sanitizeFilename("")).toBe("upload");
    expect(sanitizeFilename("数据.csv")).toBe("数据.csv");
    // At most 200 bytes of UTF-8 with the extension kept: a file system's name limit is 255 bytes.
    const long = sanitizeFilename(`${"数".repeat(200)}.xlsx`);
    expect(long).toBe(`${"数".repeat(65)}.xlsx`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(200);
  });

  it("keeps the name as given for display, without path or control characters", () => {
    expect(displayFilename("C:\\Users\\me\\it's \"q\" 😀.csv")).toBe(`it's "q" 😀.csv`);
    expect(displayFilename("a\u0000b\u0007.csv")).toBe("ab.csv");
    expect(displayFilename(`${"x".repeat(300)}.csv`)).toBe(`${"x".repeat(196)}.csv`);
    expect(displayFilename("../..")).toBe("upload");
  });
});
