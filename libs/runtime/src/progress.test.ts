import { describe, expect, it } from "vitest";
import { counted, progress } from "./progress.ts";
import { ds, serveMetrics } from "./metrics.ts";

describe("progress lines", () => {
  it("says how far long work got (bytes, rows, rates), at most once per interval", async () => {
    const lines: { o: Record<string, unknown>; m: string }[] = [];
    const log = { info: (o: object, m: string) => lines.push({ o: o as Record<string, unknown>, m }) };
    const quiet = progress(log, "export", { query_id: "q1" }, 60_000);
    quiet.add({ rows: 10, bytes: 100 });
    expect(lines).toHaveLength(0);
    const p = progress(log, "upload", { tenant: "t1" }, 0);
    const chunks: Uint8Array[] = [];
    async function* body() { yield new Uint8Array(3); yield new Uint8Array(5); }
    for await (const c of counted(body(), p)) chunks.push(c);
    expect(chunks).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ m: "⏳ upload in progress", o: { tenant: "t1", bytes: 8, rows: 0 } });
    expect(typeof lines.at(-1)!.o.bytes_per_s).toBe("number");
  });
});

describe("serveMetrics (METRICS_PORT of the bus services)", () => {
  it("serves the process registry's ds_* series at /metrics, 404 elsewhere", async () => {
    ds.busRequests().inc({ subject: "catalog.source.get", status: "ok" });
    const m = await serveMetrics(0, undefined, "127.0.0.1");
    try {
      const res = await fetch(`http://127.0.0.1:${m.port}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/ds_bus_requests_total\{subject="catalog\.source\.get",status="ok"\} [1-9]/);
      expect(text).toContain("process_cpu_seconds_total");
      expect((await fetch(`http://127.0.0.1:${m.port}/other`)).status).toBe(404);
    } finally {
      await m.stop();
    }
  });
});
