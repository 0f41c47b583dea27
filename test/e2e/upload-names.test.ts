import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

/** File names a person can type; each must upload, keep its name for display and answer queries. */
const NAMES: [given: string, display: string, table: string][] = [
  ["файл.csv", "файл.csv", "файл"],
  ["数据.csv", "数据.csv", "数据"],
  ["📊 sales 😀.csv", "📊 sales 😀.csv", "📊 sales 😀"],
  ["my data (2024) final.csv", "my data (2024) final.csv", "my data (2024) final"],
  [`it's "quoted" 100%.csv`, `it's "quoted" 100%.csv`, `it's "quoted" 100%`],
  ["../../etc/passwd.csv", "passwd.csv", "passwd"],
  ["..\\..\\win\\ünïcödé.csv", "ünïcödé.csv", "ünïcödé"],
  ["e\u0301te\u0301.csv", "été.csv", "été"],
];
// 300 Cyrillic letters: 600 bytes of UTF-8, past every file system's 255-byte name limit.
const LONG = `${"д".repeat(300)}.csv`;

for (const mode of ["embedded", "distributed"] as const) {
  describe.skipIf(mode === "distributed" && !process.env.TEST_NATS_URL)(`uploads named in any script (${mode})`, () => {
    let sys: RunningSystem;
    beforeAll(async () => { sys = await startTestSystem({ mode }); }, 60_000);
    afterAll(async () => { await sys?.stop(); });

    const upload = async (filename: string) => {
      const form = new FormData();
      form.set("file", new Blob([`id,name\n1,${filename.length}\n2,b\n`]), filename);
      const res = await sys.api("/api/data/upload", { method: "POST", body: form });
      return { status: res.status, body: await res.json() };
    };

    for (const [given, display, table] of NAMES) {
      it(`uploads ${JSON.stringify(given)} and keeps its name for display`, async () => {
        const { status, body } = await upload(given);
        expect(status, JSON.stringify(body)).toBe(201);
        const ds = body.data_source;
        expect(ds).toMatchObject({ name: display, type: "file", format: "csv" });
        expect(ds.schema.tables[0].name).toBe(table);
        // The storage key is one segment per level under the tenant: nothing climbs out of it.
        expect(ds.file_path.split("/")).toHaveLength(3);
        expect(ds.file_path.startsWith("t1/")).toBe(true);
        expect(ds.file_path).not.toContain("..");
        const q = await sys.api(`/api/data/sources/${ds.id}/query`, { method: "POST", json: { query_config: { select: ["id"], order_by: [{ column: "id" }] } } });
        expect((await q.json()).rows).toEqual([[1], [2]]);
        const csv = await sys.api(`/api/data/sources/${ds.id}/query?format=csv`, { method: "POST", json: { query_config: { select: ["id"] } } });
        expect(await csv.text()).toBe("id\r\n1\r\n2\r\n");
        expect((await sys.api(`/api/data/sources/${ds.id}`, { method: "DELETE" })).status).toBe(200);
      });
    }

    it("uploads a name longer than 255 bytes: the source keeps 200 characters and the extension", async () => {
      const { status, body } = await upload(LONG);
      expect(status, JSON.stringify(body)).toBe(201);
      expect(body.data_source.name).toBe(`${"д".repeat(196)}.csv`);
      const q = await sys.api(`/api/data/sources/${body.data_source.id}/query`, { method: "POST", json: { query_config: {} } });
      expect((await q.json()).row_count).toBe(2);
    });
  });
}
