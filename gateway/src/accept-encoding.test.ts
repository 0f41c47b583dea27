import { describe, expect, it } from "vitest";
import { acceptsGzip } from "./accept-encoding.ts";

describe("acceptsGzip", () => {
  it("takes gzip when listed or covered by *, not when refused with q=0", () => {
    for (const h of ["gzip", "gzip, deflate, br, zstd", "br;q=1.0, GZIP;q=0.5", "x-gzip", "*", "deflate, *;q=0.1"]) expect(acceptsGzip(h), h).toBe(true);
    for (const h of [undefined, "", "identity", "br, deflate", "gzip;q=0", "gzip; q=0.000, *", "*;q=0", "gzipx"]) expect(acceptsGzip(h), String(h)).toBe(false);
  });
});
