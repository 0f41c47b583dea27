import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigOf } from "@dsb/contracts";
import { connectChecked } from "../../address-policy.ts";
import type { Connection, CsvStream } from "../types.ts";
import { CopyOut } from "./copy-out.ts";
import { postgresqlDriver } from "./driver.ts";
import { scratchDatabase, TEST_PG } from "../../../../../test/support/drivers/pg-scratch-db.ts";

/** One protocol message: type byte, length, payload. */
const msg = (code: string, payload: Buffer | string = "") => {
  const p = typeof payload === "string" ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(5);
  h[0] = code.charCodeAt(0);
  h.writeUInt32BE(p.length + 4, 1);
  return Buffer.concat([h, p]);
};
const TAIL = Buffer.concat([msg("C", "COPY 3\0"), msg("Z", "I")]);

/**
 * CopyOut on a scripted socket, the server's bytes cut into chunks of `size`: the one thing a real
 * server cannot be asked for is where its bytes are cut, and every cut must give the same pages.
 */
function scripted(bytes: Buffer, size: number, passed?: (n: number) => void) {
  const stream = new PassThrough();
  const toPg: Buffer[] = [];
  stream.on("data", (b: Buffer) => toPg.push(b)); // pg's parser, until COPY takes the socket
  const copy = new CopyOut("COPY x TO STDOUT", passed);
  copy.submit({
    stream,
    query: () => { for (let i = 0; i < bytes.length; i += size) stream.write(bytes.subarray(i, i + size)); },
  });
  return { copy, stream, toPg };
}

async function pages(copy: { read(page: Buffer): Promise<number>; done: boolean | (() => boolean) }, size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const isDone = () => (typeof copy.done === "function" ? copy.done() : copy.done);
  while (!isDone()) {
    const page = Buffer.alloc(size);
    const n = await copy.read(page);
    expect(n === size || n === size - 1 || isDone(), `a page is cut short only at the end (${n} of ${size})`).toBe(true);
    out.push(page.subarray(0, n));
  }
  return out;
}

describe("CopyOut (the COPY protocol into pages)", () => {
  const records = ['1,"a\nb",x\n', '2,"say ""hi""\r\n there",y\n', "3,é😀,\n"];
  const wire = Buffer.concat([msg("H", Buffer.from([0, 0, 3, 0, 0, 0, 0, 0, 0])), msg("d", records[0]!), msg("N", "Snotice\0\0"), msg("d", records[1]!), msg("d", records[2]!), msg("c"), TAIL]);
  const expected = '1,"a\nb",x\r\n2,"say ""hi""\r\n there",y\r\n3,é😀,\r\n';

  it("ends each record (message) with CRLF, keeps newlines and CRs inside values, for every chunk cut and page size", async () => {
    for (let size = 1; size <= wire.length; size++) {
      for (const pageSize of [2, 3, 5, 16, 1024]) {
        const { copy, toPg } = scripted(wire, size);
        const got = await pages(copy, pageSize);
        expect(Buffer.concat(got).toString(), `chunks of ${size}, pages of ${pageSize}`).toBe(expected);
        expect(copy.rows).toBe(3);
        // What follows CopyDone goes back to pg's parser, byte for byte.
        expect(Buffer.concat(toPg)).toEqual(TAIL);
      }
    }
  });

  it("gives the same bytes for runs of many records of any length, whatever the chunk and page sizes", async () => {
    // Seeded, so a failure repeats: records from 1 byte to a few KB, a notice now and then.
    let seed = 7;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const recs = Array.from({ length: 400 }, (_, i) => `${i},${"v".repeat(rand(3) === 0 ? rand(3000) : rand(90))}\n`);
    const parts = recs.flatMap((r, i) => (i % 97 === 5 ? [msg("N", "Snotice\0\0"), msg("d", r)] : [msg("d", r)]));
    const bytes = Buffer.concat([msg("H", Buffer.from([0, 0, 2, 0, 0, 0, 0])), ...parts, msg("c"), TAIL]);
    const expected = recs.map((r) => r.replace(/\n$/, "\r\n")).join("");
    for (let round = 0; round < 24; round++) {
      const chunkSize = 1 + rand(round < 12 ? 300 : 70_000);
      const pageSize = 2 + rand(round % 2 ? 200 : 20_000);
      const { copy, toPg } = scripted(bytes, chunkSize);
      const got = await pages(copy, pageSize);
      expect(Buffer.concat(got).toString(), `chunks of ${chunkSize}, pages of ${pageSize}`).toBe(expected);
      expect(copy.rows).toBe(recs.length);
      expect(Buffer.concat(toPg)).toEqual(TAIL);
    }
  });

  it("hands an error to pg unread and fails the read; the records before it were delivered", async () => {
    const err = msg("E", "SERROR\0Mdivision by zero\0\0");
    for (const size of [1, 4, 7, 1000]) {
      const { copy, toPg } = scripted(Buffer.concat([msg("d", "1\n"), msg("d", "2\n"), err, msg("Z", "E")]), size);
      const page = Buffer.alloc(1024);
      const failed = copy.read(page).then(() => null, (e: unknown) => e);
      // pg's parser sees the error message whole, and tells the query (as pg does).
      await new Promise((r) => setTimeout(r, 5));
      expect(Buffer.concat(toPg).subarray(0, err.length)).toEqual(err);
      copy.handleError(new Error("division by zero"));
      expect(await failed).toMatchObject({ message: "division by zero" });
      expect(page.subarray(0, 6).toString()).toBe("1\r\n2\r\n");
    }
  });

  it("pauses the socket past its high-water mark until a page is read, then resumes", async () => {
    const row = msg("d", `${"x".repeat(998)}\n`);
    const reported: number[] = [];
    const wire = Buffer.concat([...Array.from({ length: 2000 }, () => row), msg("c"), TAIL]);
    const { copy, stream } = scripted(wire, 64 * 1024, (n) => reported.push(n));
    await new Promise((r) => setTimeout(r, 5));
    expect(stream.isPaused()).toBe(true);
    const got = await pages(copy, 300 * 1024);
    expect(Buffer.concat(got).length).toBe(2000 * 1000);
    expect(copy.rows).toBe(2000);
    expect(stream.isPaused()).toBe(false);
    // Told of the bytes read each time its queue ran empty (a collection then promotes nothing queued).
    expect(reported.length).toBeGreaterThan(1);
    expect(reported.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(wire.length);
  });
});

describe("copyCsv against the local PostgreSQL", async () => {
  const db = await scratchDatabase("dsb_connector_copy_");
  const skip = "skip" in db;
  if ("skip" in db) console.log(`SKIPPED copyCsv: ${db.skip}`);
  describe.runIf(!skip)("pages", () => {
    const scratch = db as Exclude<typeof db, { skip: string }>;
    let conn: Connection;
    const config = { type: "postgresql", host: TEST_PG.host, port: TEST_PG.port, username: TEST_PG.user, password: TEST_PG.password, database: scratch.name, allow_writes: false } as ConfigOf<"postgresql">;
    const opts = () => ({ readOnly: true, timeoutMs: 10_000, signal: new AbortController().signal });
    beforeAll(async () => { conn = await connectChecked(postgresqlDriver, config, { allowPrivateHosts: true }); });
    afterAll(async () => {
      await conn?.close();
      await scratch.drop();
    });

    it("gives every record with CRLF ends across pages smaller than a record, and counts them exactly", async () => {
      const sql = `select g, repeat('é', g % 700) || E'\\n"q",' || chr(13) as t from generate_series(1, 5000) g`;
      const stream = (await conn.copyCsv!(sql, [], opts()))!;
      const got = Buffer.concat(await pages(stream, 257)).toString();
      const expected = Array.from({ length: 5000 }, (_, i) => `${i + 1},"${"é".repeat((i + 1) % 700)}\n""q"",\r"\r\n`).join("");
      expect(got).toBe(expected);
      expect(stream.rowCount()).toBe(5000);
    });

    it("an error after many pages fails the read with the database's message, and the pool goes on", async () => {
      const stream = (await conn.copyCsv!("select 1 / (g - 150000) as x, repeat('y', 40) from generate_series(1, 200000) g", [], opts()))! as CsvStream;
      const page = Buffer.alloc(64 * 1024);
      let pagesRead = 0;
      const err = await (async () => { for (;;) { await stream.read(page); pagesRead++; } })().catch((e: unknown) => e);
      expect(pagesRead).toBeGreaterThan(10);
      expect(String((err as Error).message)).toMatch(/division by zero/);
      const next = (await conn.copyCsv!("select 1 as one", [], opts()))!;
      expect(Buffer.concat(await pages(next, 64)).toString()).toBe("1\r\n");
    });
  });
});
