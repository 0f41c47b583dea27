/**
 * `npx tsx --expose-gc test/bench/cache-memory.ts [entries]`: heap taken by the embedded
 * query cache (MemoryCacheStore) holding 10,000 entries of the small-query result (10 rows),
 * next to its own byte accounting (what QUERY_CACHE_BYTES bounds).
 */
import { cacheKey } from "../../gateway/src/cache/key.ts";
import { MemoryCacheStore } from "../../gateway/src/cache/memory-store.ts";

const N = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc (npx tsx --expose-gc …)");
const rows = Array.from({ length: 10 }, (_, g) => [g + 1, `item ${g + 1}`, (g + 1) * 1.25, `2024-01-${String(g + 2).padStart(2, "0")}`, g % 2 === 1]);
const value = JSON.stringify({ columns: [{ name: "id", type: "int4" }, { name: "name", type: "text" }, { name: "price", type: "float8" }, { name: "day", type: "date" }, { name: "active", type: "bool" }], rows, truncated: false, execution_time_ms: 1, cached_at: new Date().toISOString() });
const keys = await Promise.all(Array.from({ length: N }, (_, i) => cacheKey({ tenant: "bench-tenant", sourceId: `source-${i % 50}`, version: "v1", sql: `select * from small10 where id > ${i}`, limit: 1000, read_only: true })));
const store = new MemoryCacheStore(1024 ** 3);
gc();
const before = process.memoryUsage();
for (const k of keys) await store.set(k, new TextEncoder().encode(value), Date.now() + 3_600_000);
gc();
const after = process.memoryUsage();
const { entries, bytes } = await store.size();
const heap = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
console.log(`${entries} entries of ${value.length} bytes: store accounting ${(bytes / 1024 ** 2).toFixed(2)} MiB, measured heap + buffers ${(heap / 1024 ** 2).toFixed(2)} MiB (${Math.round(heap / entries)} B/entry)`);
