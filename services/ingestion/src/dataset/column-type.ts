import { bool, dateDay, float64, int32, int64, time, timestamp, TimeUnit, utf8, type DataType } from "@uwdata/flechette";

/** Column types a parsed file can have; the dataset and the schema use these names. */
export const COLUMN_TYPES = ["boolean", "integer", "bigint", "double", "decimal", "date", "timestamp", "timestamptz", "time", "string", "json"] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/**
 * Arrow type of each column type. Decimals stay exact as text; the query engine reads them as numbers where it must compare or add.
 * Integers are int64 unless the reader knows every value fits 32 bits (`int32`: CSV's "integer" format does), which halves them on disk.
 */
export function arrowType(t: ColumnType, int32Values = false): DataType {
  switch (t) {
    case "boolean": return bool();
    case "integer": return int32Values ? int32() : int64();
    case "bigint": return int64();
    case "double": return float64();
    case "date": return dateDay();
    case "timestamp": return timestamp(TimeUnit.MILLISECOND);
    case "timestamptz": return timestamp(TimeUnit.MILLISECOND, "UTC");
    case "time": return time(TimeUnit.MILLISECOND);
    case "decimal":
    case "string":
    case "json": return utf8();
  }
}
