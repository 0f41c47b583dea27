import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { createPgSource } from "../support/peers.ts";

/** Every log line the system writes, as text. */
const lines: string[] = [];
const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split("\n").filter(Boolean)); done(); } });

let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
let sourceId: string;

beforeAll(async () => {
  sys = await startTestSystem({ logTo: sink });
  src = await createPgSource([]);
  const res = await sys.api("/api/data/database/connect", {
    method: "POST", json: { type: "postgres", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: "x", name: "logs test" },
  });
  expect(res.status).toBe(201);
  sourceId = (await res.json()).data_source.id;
});
afterAll(async () => {
  await sys?.stop();
  await src?.drop();
});

describe("log lines", () => {
  it("carry the service key once per line in embedded and distributed runs alike", () => {
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      expect(line.match(/"service":/g), line).toHaveLength(1);
      expect(JSON.parse(line).service).toMatch(/^(catalog|connector|ingestion|gateway|e2e)$/);
    }
    expect(lines.some((l) => JSON.parse(l).service === "catalog")).toBe(true);
  });

  for (const format of ["csv", "ndjson"] as const) {
    it(`logs an export that fails after its first bytes as one JSON line with the request id, no raw stack (${format})`, async () => {
      const consoleError = vi.spyOn(console, "error");
      const from = lines.length;
      try {
        // ~5 MB of rows, then a division by zero: the failure comes pages after the first bytes.
        const res = await sys.api(`/api/data/sources/${sourceId}/query?format=${format}`, {
          method: "POST", json: { sql: "select repeat('x', 1000) as pad, 1 / (5000 - g) as boom from generate_series(1, 10000) g" },
        });
        expect(res.status).toBe(200);
        const requestId = res.headers.get("x-request-id");
        expect(requestId).toBeTruthy();
        // The connection is cut without the closing chunk: the client sees an incomplete transfer, not "Error: …" text.
        const text = await res.text().then(() => "complete", (e: Error) => `cut: ${e.message}`);
        expect(text).toMatch(/^cut/);
        await vi.waitFor(() => expect(lines.slice(from).some((l) => l.includes("response stream failed"))).toBe(true));
        const mine = lines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.requestId === requestId);
        expect(mine.find((l) => String(l.msg).includes("response stream failed"))).toMatchObject({ code: "QUERY_FAILED", error: expect.stringMatching(/division by zero/) });
        for (const l of lines.slice(from)) expect(l).not.toMatch(/\n\s+at /);
        expect(consoleError).not.toHaveBeenCalled();
        const hist = await (await sys.api(`/api/data/sources/${sourceId}/queries`)).json();
        expect(hist.queries[0]).toMatchObject({ status: "error", error: expect.stringMatching(/division by zero/) });
      } finally {
        consoleError.mockRestore();
      }
    });
  }
});
