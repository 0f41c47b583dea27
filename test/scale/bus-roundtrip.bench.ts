/**
 * Small-request round trip over NATS, for comparing bus changes (not part of the suite):
 *   npx tsx test/scale/bus-roundtrip.bench.ts [nats-url]
 * Runs 5,000 sequential requests and 5,000 more with 50 in flight, on a private nats-server
 * unless a URL is given, and prints requests per second (best of three rounds).
 */
import { Bus } from "@dsb/bus";
import { NatsTransport } from "@dsb/bus/nats";
import { TestNatsServer } from "../support/nats-server.ts";

const N = 5_000;
const source = {
  id: "s1", name: "n", type: "file" as const, format: "csv", db_type: null, schema: null, connection_config: null, file_path: "k",
  user_id: "u1", tenant_id: "t1", is_active: true, created_at: "2025-01-01T00:00:00.000Z", updated_at: "2025-01-01T00:00:00.000Z",
};
const actor = { tenant_id: "t1", user_id: "u1" };

const own = process.argv[2] ? null : await TestNatsServer.start();
const url = process.argv[2] ?? own!.url;
const server = new Bus(await NatsTransport.connect({ servers: url, name: "bench-server" }));
const client = new Bus(await NatsTransport.connect({ servers: url, name: "bench-client" }), { defaultTimeoutMs: 10_000 });
await server.serve("catalog", { "catalog.source.get": async (req) => ({ source: { ...source, id: req.id } }) }, { replicaId: "b" });

async function sequential(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await client.request("catalog.source.get", { actor, id: `s${i}` });
  return N / ((performance.now() - t0) / 1000);
}
async function concurrent(width: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < N) { const i = next++; await client.request("catalog.source.get", { actor, id: `s${i}` }); }
  }));
  return N / ((performance.now() - t0) / 1000);
}

await sequential(); // warm-up
const seq: number[] = [];
const par: number[] = [];
for (let r = 0; r < 3; r++) { seq.push(await sequential()); par.push(await concurrent(50)); }
console.log(JSON.stringify({ sequential_rps: Math.round(Math.max(...seq)), concurrent50_rps: Math.round(Math.max(...par)), rounds: { seq: seq.map(Math.round), par: par.map(Math.round) } }));
await server.close();
await client.close();
await own?.dispose();
