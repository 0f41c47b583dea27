import { describe, expect, it } from "vitest";
import { scrubSecrets } from "./scrub.ts";

describe("scrubSecrets", () => {
  it("masks every occurrence of every secret", () => {
    expect(scrubSecrets("login hunter2 failed (hunter2) for s3cr3t", ["hunter2", undefined, "s3cr3t"])).toBe("login ******** failed (********) for ********");
  });
  it("leaves secrets shorter than 3 characters alone", () => {
    expect(scrubSecrets("a b ab", ["a", "ab", ""])).toBe("a b ab");
  });
});
