/**
 * The bus alone: CPU per `connector.query` round trip over NATS, of the requester (this process),
 * of a stub replica (a child answering a 10-row page at once) and nats-server's share:
 * `tsx test/bench/lib/probe-bus.ts` (PROBE_N requests per pass, 32 at once). Read from /proc, so it
 * stays comparable on a busy machine.
 *
 * PROBE_BATCH=B (> 1): the ceiling of batching requests per bus message. B requests travel as one
 * message each way (validated and encoded one by one as the Bus does, over the raw transport),
 * 32/B messages at once: what is left per request when the per-message costs are shared by B.
 */
import { fork } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { SUBJECTS } from "@dsb/contracts";
import { connectBus, createLogger, parseEnv } from "@dsb/runtime";

const ns = process.env.NS ?? `pb${process.pid}`;
const env = parseEnv({ NATS_URL: process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222", BUS_NAMESPACE: ns, LOG_LEVEL: "silent", ENCRYPTION_KEY: "x" });
const log = createLogger("probe-bus", "silent");
const batch = Number(process.env.PROBE_BATCH ?? 1);
const rawSubject = `${ns}.probe.batch`;
const def = SUBJECTS["connector.query"];
const enc = new TextEncoder();
const dec = new TextDecoder();
const rows = Array.from({ length: 10 }, (_, i) => [i + 1, `item ${i + 1}`, (i + 1) * 1.25, "2024-01-02", i % 2 === 0]);
const columns = [{ name: "id", type: "int4" }, { name: "name", type: "text" }, { name: "price", type: "float8" }, { name: "day", type: "date" }, { name: "active", type: "bool" }];
const page = { columns, rows, done: true, truncated: false, row_count: 10, execution_time_ms: 0 };

const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const natsMs = () => readdirSync("/proc").filter((d) => /^\d+$/.test(d)).reduce((a, d) => {
  try { return readFileSync(`/proc/${d}/comm`, "utf8").trim() === "nats-server" ? a + cpuMs(Number(d)) : a; } catch { return a; }
}, 0);

if (process.argv[2] === "stub") {
  const bus = await connectBus(env, "connector", log);
  await bus.serve("connector", { "connector.query": async () => page }, { replicaId: "r1" });
  await bus.transport.serve({ name: `${ns}-batch`, version: "0.1.0" }, [{
    name: "batch", subject: rawSubject,
    handler: async (data) => {
      const answers = (JSON.parse(dec.decode(data)) as unknown[]).map((r) => (def.request.parse(r), { ok: true, data: def.reply.parse(page) }));
      return { data: enc.encode(JSON.stringify(answers)) };
    },
  }]);
  process.send!("up");
  // A normal exit when the parent is done, so --cpu-prof writes its profile.
  process.on("disconnect", () => void bus.close().then(() => process.exit(0)));
} else {
  const stub = fork(process.argv[1]!, ["stub"], { execArgv: process.execArgv, env: { ...process.env, NS: ns } });
  await new Promise((r) => stub.once("message", r));
  const bus = await connectBus(env, "gateway", log);
  const req = { tenant_id: "bench", id: "3f1c3c9e-4b7a-4d55-9a0e-0d7f7d1f3a11", sql: "select * from small10", limit: 100, timeout_ms: 30000, read_only: true, stream: false };
  const one = () => bus.requestWithBytes("connector.query", { ...req, query_id: crypto.randomUUID() }, { requestId: crypto.randomUUID(), timeoutMs: 35_000 });
  const many = async () => {
    const reqs = Array.from({ length: batch }, () => def.request.parse({ ...req, query_id: crypto.randomUUID() }));
    const answer = await bus.transport.request(rawSubject, enc.encode(JSON.stringify(reqs)), { timeoutMs: 35_000, headers: { "x-request-id": crypto.randomUUID() } });
    for (const a of JSON.parse(dec.decode(answer)) as { data: unknown }[]) def.reply.parse(a.data);
  };
  const call = batch > 1 ? many : one;
  const messages = Math.round(Number(process.env.PROBE_N ?? 20000) / batch);
  const c = Math.max(1, Math.round(32 / batch));
  for (let i = 0; i < 2000 / batch; i++) await call();
  for (let pass = 0; pass < Number(process.env.PROBE_PASSES ?? 3); pass++) {
    const stub0 = cpuMs(stub.pid!);
    const nats0 = natsMs();
    const self0 = process.cpuUsage();
    let next = 0;
    const t = performance.now();
    await Promise.all(Array.from({ length: c }, async () => { while (next++ < messages) await call(); }));
    const s = (performance.now() - t) / 1000;
    const self = process.cpuUsage(self0);
    const n = messages * batch;
    const us = (ms: number) => Math.round((ms * 1000) / n);
    console.log(`batch ${batch} × ${c} at once: ${Math.round(n / s)} req/s  CPU µs per request: requester ${Math.round((self.user + self.system) / n)}  replica ${us(cpuMs(stub.pid!) - stub0)}  nats-server ${us(natsMs() - nats0)}`);
  }
  stub.disconnect();
  await bus.close();
}
