/** deploy/nats.conf is generated from the contracts and cannot drift from `callers`. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SUBJECTS, EVENTS } from "@dsb/contracts";
import { CONF_PATHS, NATS_USERS, permissionsOf, renderNatsConf, UPLOAD_BUCKET, CACHE_BUCKET, CACHE_CLAIMS_BUCKET } from "../../deploy/gen-nats-conf.ts";
import { CONF_PATH } from "./nats-server.ts";

describe("deploy/nats.conf", () => {
  it("is exactly what deploy/gen-nats-conf.ts generates, for compose and for k8s (run `npx tsx deploy/gen-nats-conf.ts` after changing subjects)", () => {
    expect(CONF_PATHS).toContain(CONF_PATH);
    for (const p of CONF_PATHS) expect(readFileSync(p, "utf8"), p).toBe(renderNatsConf());
  });

  it("lets a user publish a subject exactly when SUBJECTS lists it among the callers", () => {
    for (const [subject, def] of Object.entries(SUBJECTS)) {
      for (const user of NATS_USERS) {
        const may = permissionsOf(user).publish.includes(subject);
        expect(may, `${user} → ${subject}`).toBe((def.callers as readonly string[]).includes(user));
      }
    }
  });

  it("gives only the connector catalog.config.resolve", () => {
    const holders = NATS_USERS.filter((u) => permissionsOf(u).publish.includes("catalog.config.resolve"));
    expect(holders).toEqual(["connector"]);
  });

  it("limits the gateway to public subjects, its own cancel events, service pings, the upload bucket and the query cache bucket; it serves only the fanout cancel", () => {
    const { publish, subscribe, allowResponses } = permissionsOf("gateway");
    const isPublic = (s: string) => (SUBJECTS as Record<string, { callers: readonly string[] }>)[s]?.callers.includes("gateway") ?? false;
    const other = publish.filter((s) => !isPublic(s));
    expect(other.every((s) => s === "$SRV.>" || s === "gateway.events.query.cancelled" || s.startsWith("$JS.API.") || s.startsWith(`$O.${UPLOAD_BUCKET}.`) || s.startsWith(`$KV.${CACHE_BUCKET}.`) || s.startsWith(`$KV.${CACHE_CLAIMS_BUCKET}.`))).toBe(true);
    expect(other.filter((s) => s.startsWith("$JS.API.") && s !== "$JS.API.INFO").every((s) => s.includes(`OBJ_${UPLOAD_BUCKET}`) || s.includes(`KV_${CACHE_BUCKET}`))).toBe(true);
    // The cache's KV subjects: a replica waiting for another's run of the same query hears its value and claim.
    expect(subscribe.sort()).toEqual([`$KV.${CACHE_CLAIMS_BUCKET}.>`, `$KV.${CACHE_BUCKET}.>`, "_INBOX_gateway.>", "catalog.events.source.changed", "catalog.events.source.deleted", "gateway.query.cancel"]);
    // To answer another gateway replica's gateway.query.cancel (once per request).
    expect(allowResponses).toBe(true);
  });

  it("lets each service subscribe to its own subjects and its own inbox only", () => {
    for (const svc of ["catalog", "connector", "ingestion"] as const) {
      const { subscribe, allowResponses } = permissionsOf(svc);
      const foreign = subscribe.filter((s) => !s.startsWith(`${svc}.`) && !s.startsWith("$SRV.") && s !== `_INBOX_${svc}.>` && !(s in EVENTS));
      expect(foreign, svc).toEqual([]);
      expect(subscribe.some((s) => s.startsWith("_INBOX.") || s === ">")).toBe(false);
      expect(allowResponses).toBe(true);
    }
  });

  it("routes query cancels from the gateway to the connector only", () => {
    expect(permissionsOf("gateway").publish).toContain("gateway.events.query.cancelled");
    expect(permissionsOf("connector").subscribe).toContain("gateway.events.query.cancelled");
    for (const u of ["catalog", "connector", "ingestion"] as const) expect(permissionsOf(u).publish).not.toContain("gateway.events.query.cancelled");
  });

  it("routes every event: catalog publishes source.deleted, gateway, connector and ingestion hear it", () => {
    expect(permissionsOf("catalog").publish).toContain("catalog.events.source.deleted");
    for (const u of ["gateway", "connector", "ingestion"] as const) expect(permissionsOf(u).subscribe).toContain("catalog.events.source.deleted");
    for (const u of ["gateway", "connector", "ingestion"] as const) expect(permissionsOf(u).publish).not.toContain("catalog.events.source.deleted");
  });

  it("takes every password from the environment, never from the file", () => {
    const text = readFileSync(CONF_PATH, "utf8");
    const passwords = [...text.matchAll(/password:\s*(\S+)/g)].map((m) => m[1]);
    expect(passwords).toEqual(["$NATS_GATEWAY_PASS", "$NATS_CATALOG_PASS", "$NATS_CONNECTOR_PASS", "$NATS_INGESTION_PASS"]);
  });
});
