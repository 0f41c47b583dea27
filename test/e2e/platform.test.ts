import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

let sys: RunningSystem;
beforeAll(async () => { sys = await startTestSystem(); });
afterAll(async () => { await sys?.stop(); });

describe(`platform through the gateway`, () => {
  it("answers /healthz and /readyz with every service up", async () => {
    expect((await fetch(`${sys.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${sys.url}/readyz`);
    expect(await ready.json()).toEqual({ status: "ready", bus: "up", services: { catalog: "up", connector: "up", ingestion: "up" } });
  });

  it("refuses /api/data/sources without a token and lists with one", async () => {
    const res = await fetch(`${sys.url}/api/data/sources`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ success: false, code: "UNAUTHORIZED" });
    const ok = await sys.api("/api/data/sources");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ success: true, data_sources: [], next_cursor: null });
  });

  it("serves 501 for the removed cube routes, the OpenAPI document and Prometheus metrics", async () => {
    expect((await fetch(`${sys.url}/api/data/cube/meta`)).status).toBe(501);
    const doc = await (await fetch(`${sys.url}/openapi.json`)).json();
    expect(Object.keys(doc.paths)).toContain("/api/data/sources/{id}/query");
    const metrics = await (await fetch(`${sys.url}/metrics`)).text();
    expect(metrics).toMatch(/http_requests_total\{method="GET",route="\/api\/data\/sources",status="200"\}/);
  });

  it("answers an unknown source with 404 and a request id header", async () => {
    const res = await sys.api("/api/data/sources/does-not-exist");
    expect(res.status).toBe(404);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(await res.json()).toEqual({ success: false, error: "Data source not found", code: "NOT_FOUND" });
  });
});
