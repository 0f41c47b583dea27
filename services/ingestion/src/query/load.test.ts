import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromColumns, tableToIPC, columnFromArray, int32, utf8 } from "@uwdata/flechette";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsBlobStore } from "@dsb/storage";
import { columnKey, manifestKey, tableFileKey, type Manifest } from "../dataset/layout.ts";
import { DatasetCache } from "./load.ts";

let dir: string;
let store: FsBlobStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dataset-load-"));
  store = new FsBlobStore(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const put = (key: string, bytes: Uint8Array) => store.put(key, (async function* () { yield bytes; })(), { maxBytes: 1e9 });

describe("DatasetCache", () => {
  it("reads a dataset stored before LZ4 frames (no compression in its manifest) as plain Arrow", async () => {
    const upload = "t/old/f.csv";
    const ipc = tableToIPC(tableFromColumns({
      [columnKey(0)]: columnFromArray([1, 2, null], int32()),
      [columnKey(1)]: columnFromArray(["a", "é", null], utf8()),
    }), { format: "stream" })!;
    await put(tableFileKey(upload, 0), ipc);
    const manifest: Manifest = {
      version: 1, format: "csv",
      tables: [{ name: "f", key: tableFileKey(upload, 0), rowCount: 3, bytes: ipc.byteLength, columns: [
        { name: "id", type: "integer", nullable: true }, { name: "name", type: "string", nullable: true },
      ] }],
    };
    await put(manifestKey(upload), new TextEncoder().encode(JSON.stringify(manifest)));
    const { table } = await new DatasetCache(store, 1e8).table(upload, undefined);
    expect(table.objects()).toEqual([{ c0: 1, c1: "a" }, { c0: 2, c1: "é" }, { c0: null, c1: null }]);
  });
});
