import ExcelJS from "exceljs";
import { parquetWriteBuffer } from "hyparquet-writer";

/** Test corpus built in code so no binary fixtures live in the repo. */

export async function workbook(): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  const orders = wb.addWorksheet("Orders");
  orders.addRow(["Order report"]); // a title row above the header
  orders.addRow(["id", "customer", "amount", "ordered", "paid", "double_amount"]);
  const rows: [number, string | null, number, Date, boolean][] = [
    [1, "Acme", 10.5, new Date(Date.UTC(2024, 0, 15)), true],
    [2, "Globex", 20, new Date(Date.UTC(2024, 1, 1)), false],
    [3, "Acme", 30.25, new Date(Date.UTC(2024, 2, 10)), true],
    [4, null, 5, new Date(Date.UTC(2024, 2, 11)), false],
  ];
  rows.forEach((r, i) => {
    const n = i + 3;
    orders.addRow([...r, { formula: `C${n}*2`, result: r[2] * 2 }]);
  });
  orders.mergeCells("B5:B6"); // customer of rows 3 and 4 merged: the value sits in B5 only
  const regions = wb.addWorksheet("Regions");
  regions.addRow(["code", "name", "opened"]);
  regions.addRow(["EU", "Europe", new Date(Date.UTC(2020, 5, 1, 9, 30))]);
  regions.addRow(["US", "United States", new Date(Date.UTC(2021, 0, 2, 0, 0, 1))]);
  wb.addWorksheet("Empty");
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** Rewrites the declared uncompressed size of every central-directory entry: a zip bomb by declaration. */
export function declareHuge(zip: Buffer, size = 3_000_000_000): Buffer {
  const out = Buffer.from(zip);
  for (let i = out.length - 22; i >= 0; i--) {
    if (out.readUInt32LE(i) !== 0x06054b50) continue;
    const count = out.readUInt16LE(i + 10);
    let p = out.readUInt32LE(i + 16);
    for (let n = 0; n < count; n++) {
      if (out.readUInt32LE(p + 20) > 1000) out.writeUInt32LE(size, p + 24);
      p += 46 + out.readUInt16LE(p + 28) + out.readUInt16LE(p + 30) + out.readUInt16LE(p + 32);
    }
    break;
  }
  return out;
}

export function parquet(rows: number): Buffer {
  const id = new Int32Array(rows);
  const grp: string[] = new Array(rows);
  const val = new Float64Array(rows);
  const big: bigint[] = new Array(rows);
  const ts: Date[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    id[i] = i;
    grp[i] = `g${i % 10}`;
    val[i] = i / 2;
    big[i] = 9_007_199_254_740_993n + BigInt(i);
    ts[i] = new Date(Date.UTC(2024, 0, 1) + i * 1000);
  }
  const ab = parquetWriteBuffer({
    columnData: [
      { name: "id", data: id, type: "INT32" },
      { name: "grp", data: grp, type: "STRING" },
      { name: "val", data: val, type: "DOUBLE" },
      { name: "big", data: big, type: "INT64" },
      { name: "ts", data: ts, type: "TIMESTAMP" },
    ],
    rowGroupSize: 10_000,
  });
  return Buffer.from(ab);
}

/** One column per interesting physical/logical type, with an explicit schema. */
export function parquetTyped(): Buffer {
  return Buffer.from(parquetWriteBuffer({
    columnData: [
      { name: "d", data: [new Date(Date.UTC(2024, 0, 2)), null] },
      { name: "dec", data: [12.34, 5] },
      { name: "ok", data: [true, false] },
      { name: "j", data: [{ a: 1 }, null] },
      { name: "ts", data: [new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), null] },
      { name: "f", data: [1.5, 2] },
    ],
    schema: [
      { name: "root", num_children: 6 },
      { name: "d", type: "INT32", converted_type: "DATE", repetition_type: "OPTIONAL" },
      { name: "dec", type: "INT64", converted_type: "DECIMAL", scale: 2, precision: 10, repetition_type: "REQUIRED" },
      { name: "ok", type: "BOOLEAN", repetition_type: "REQUIRED" },
      { name: "j", type: "BYTE_ARRAY", converted_type: "JSON", repetition_type: "OPTIONAL" },
      { name: "ts", type: "INT64", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" }, repetition_type: "OPTIONAL" },
      { name: "f", type: "FLOAT", repetition_type: "REQUIRED" },
    ],
  }));
}

export const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000a49444154789c6300010000050001", "hex");
