import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { TablesSink } from "./tables-sink.ts";

const utf8 = new TextEncoder();
const head = utf8.encode('{"schema":{"tables":');
const sha = (s: string) => createHash("sha256").update(s).digest("base64url");

describe("TablesSink", () => {
  // Enough tables for several batches, names beyond ASCII (a batch boundary may fall anywhere between tables).
  const tables = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ name: `t${i} naïve ✓ 名前`, columns: [{ name: "ü \"x\"", type: "int4" }] }));

  for (const n of [0, 1, 3000]) {
    it(`gives the bytes, hash and gzip of [${n} tables] as JSON.stringify would`, async () => {
      const expected = `[${tables.slice(0, n).join(",")}]`;
      const plain = new TablesSink(head);
      const zipped = new TablesSink(head, '{"success":true,');
      for (const t of tables.slice(0, n)) { plain.table(t); zipped.table(t); }
      expect(plain.finish()).toBe(sha(expected));
      expect(zipped.finish()).toBe(sha(expected));
      expect(Buffer.concat(plain.pieces).toString("utf8")).toBe(expected);
      expect(plain.compressing).toBe(false);
      const body = gunzipSync(await zipped.gzipped(utf8.encode(',"x":1}}'))).toString("utf8");
      expect(body).toBe(`{"success":true,"schema":{"tables":${expected},"x":1}}`);
    });
  }
});
