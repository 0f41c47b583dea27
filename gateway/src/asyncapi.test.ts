import { describe, expect, it } from "vitest";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";
import { isolatedBus } from "@dsb/runtime/testing";
import { EVENT_ROUTES, EVENTS, SUBJECTS } from "@dsb/contracts";
import { createApp } from "./app.ts";
import { createVerifier } from "./auth.ts";

const limits = { maxUploadBytes: 1024, maxBodyBytes: 1024 * 1024, queryMaxRows: 1000, defaultTimeoutMs: 5000, busTimeoutMs: 5000 };

/** /asyncapi.json: the bus as an AsyncAPI 3 document generated from SUBJECTS and EVENTS (docs/bus.md). */
describe("GET /asyncapi.json", () => {
  it("is served without a token and is a valid AsyncAPI 3 document covering every subject and event", async () => {
    const app = createApp({ bus: isolatedBus(), verifier: createVerifier({ secret: "test-secret-with-enough-length-0123456789", tenantClaim: "tenant_id" }), limits });
    const res = await app.request("/asyncapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const text = await res.text();

    const { document, diagnostics } = await new Parser().parse(text);
    expect(diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning)).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toMatch(/^3\./);

    // One channel and one operation per subject and per event; replies on their own channels.
    const doc = JSON.parse(text);
    const addresses = document!.channels().all().map((c) => c.address());
    for (const subject of Object.keys(SUBJECTS)) expect(addresses).toContain(subject.replace(/\*$/, "{replica}"));
    for (const event of Object.keys(EVENTS)) expect(addresses).toContain(event);
    expect(document!.operations().all()).toHaveLength(Object.keys(SUBJECTS).length + Object.keys(EVENTS).length);

    // Request-reply: the owner receives, replies with the reply or the error envelope; callers as in the contracts.
    const resolve = doc.operations.catalog_config_resolve;
    expect(resolve).toMatchObject({ action: "receive", "x-callers": ["connector"] });
    const op = document!.operations().get("catalog_config_resolve")!;
    expect(op.reply()?.messages().all().map((m) => m.id())).toEqual(["reply", "error"]);
    expect(doc.components.messages.catalog_config_resolve_request.payload.schema.required).toEqual(["tenant_id", "id"]);
    expect(doc.components.messages.catalog_config_resolve_reply.payload.schema.properties.data.required).toContain("version");
    expect(doc.components.messages.error.payload.schema.properties.error.properties.code.enum).toContain("NOT_FOUND");
    // Per-replica subjects: the replica is a parameter.
    expect(document!.channels().get("connector_cursor")!.parameters().all().map((p) => p.id())).toEqual(["replica"]);
    // Events: the publisher sends, subscribers named.
    expect(doc.operations.catalog_events_source_deleted).toMatchObject({ action: "send", "x-publisher": "catalog", "x-subscribers": EVENT_ROUTES["catalog.events.source.deleted"].subscribers });
  }, 60_000);
});
