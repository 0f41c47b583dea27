import { describe, expect, it } from "vitest";
import { ReplicaWatch, serviceOfReplica } from "./replica-watch.ts";

describe("ReplicaWatch", () => {
  it("counts a vanished replica against requests sent while it was (recently) alive, not against later ones", () => {
    const w = new ReplicaWatch();
    w.heard("catalog.A", 1_000);
    w.heard("catalog.B", 1_000);
    w.heard("ns-connector.C", 1_000);
    expect(w.of("catalog").sort()).toEqual(["catalog.A", "catalog.B"]);
    w.gone("catalog.A");
    expect(w.of("catalog")).toEqual(["catalog.B"]);
    expect(w.lostSince("catalog", 5_000, 10_000)).toBe(true); // A was heard of 4 s before the request
    expect(w.lostSince("catalog", 60_000, 10_000)).toBe(false); // a request sent long after A was last heard of
    expect(w.lostSince("ns-connector", 5_000, 10_000)).toBe(false);
    w.gone("catalog.unknown"); // never heard of: nothing to count
    expect(w.lostSince("catalog", 60_000, 10_000)).toBe(false);
  });

  it("keeps a bounded number of replicas per service, and only names that fit a subject", () => {
    const w = new ReplicaWatch();
    for (let i = 0; i < 200; i++) w.heard(`catalog.R${i}`, i);
    expect(w.of("catalog").length).toBe(64);
    expect(w.of("catalog")).toContain("catalog.R199");
    w.heard("catalog.>", 1);
    w.heard("no-id", 1);
    expect(w.of("catalog")).not.toContain("catalog.>");
    expect(serviceOfReplica("bench_x1-connector.ABC123")).toBe("bench_x1-connector");
    expect(serviceOfReplica("a.b.c")).toBeUndefined();
  });
});
