import { beforeAll, describe, expect, it } from "vitest";
import { EVENT_ROUTES, SUBJECTS, type Caller } from "@dsb/contracts";
import { compareWithGrants, findBusCalls, type BusCall, type Grants } from "../support/bus-calls.ts";

/**
 * Least privilege on the bus: the `callers` of every subject (and the routes of every event) are
 * exactly what the production code calls. deploy/nats.conf turns them into NATS permissions, so a
 * list that misses a caller breaks that service in production, and one that claims more grants
 * a permission nobody needs.
 */
const grants: Grants = { subjects: SUBJECTS, events: EVENT_ROUTES };
let calls: BusCall[];
beforeAll(() => { calls = findBusCalls(); }, 120_000);

describe("bus callers", () => {
  it("every call is granted and every grant is used", () => {
    expect(compareWithGrants(calls, grants)).toEqual([]);
  });

  it("sees the calls of every service, including a subject chosen at run time (cursor pages)", () => {
    const services = new Set(calls.map((c) => c.service));
    expect([...services].sort()).toEqual(["catalog", "connector", "gateway", "ingestion"]);
    const cursor = calls.filter((c) => c.at.startsWith("gateway/src/results.ts")).map((c) => c.subject);
    expect(new Set(cursor)).toEqual(new Set(["connector.cursor.*", "ingestion.cursor.*"]));
  });

  it("fails when a list misses a caller", () => {
    const without = (subject: keyof typeof SUBJECTS, service: Caller): Grants => ({
      ...grants, subjects: { ...SUBJECTS, [subject]: { callers: SUBJECTS[subject].callers.filter((c) => c !== service) } },
    });
    expect(compareWithGrants(calls, without("catalog.config.resolve", "connector")))
      .toContainEqual(expect.stringMatching(/connector may not call catalog\.config\.resolve \(its list: nobody\)/));
    const noSubscriber = { ...grants, events: { ...EVENT_ROUTES, "gateway.events.query.cancelled": { publisher: "gateway" as const, subscribers: [] } } };
    expect(compareWithGrants(calls, noSubscriber)).toContainEqual(expect.stringMatching(/connector may not subscribe gateway\.events\.query\.cancelled/));
  });

  it("fails when a list claims a caller whose code never calls it", () => {
    const extra: Grants = { ...grants, subjects: { ...SUBJECTS, "catalog.schema.put": { callers: ["connector", "ingestion"] } } };
    expect(compareWithGrants(calls, extra)).toEqual(["ingestion may call catalog.schema.put but its code never does"]);
  });
});
