/**
 * `npx tsx test/bench/lib/probe-edge-upload.ts` (env MB=150, RT=node,workerd,deno, RUNS=1, BODY=chunked|length,
 * TEST_DATABASE_URL): streamed multipart CSV uploads of MB MiB through each gateway as its own process (Node
 * over NATS TCP, workerd and Deno over WebSocket; a private nats-server, the services in this process), with the
 * gateway process's wall time, CPU seconds and resident memory before and at peak. BODY=chunked sends the body
 * as a stream (Transfer-Encoding: chunked, 64 KiB chunks), BODY=length the same bytes with Content-Length.
 */
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { SignJWT } from "jose";
import { startTestSystem, JWT_SECRET } from "../../support/system.ts";
import { freePort, TestNatsServer } from "../../support/nats-server.ts";
import { startEdgeGateway } from "../../support/edge-gateway.ts";
import { spawnBundle } from "../../support/processes.ts";
import { DEV_ENCRYPTION_KEY } from "../../support/build.ts";

const MB = Number(process.env.MB ?? 150);
const RUNS = Number(process.env.RUNS ?? 1);
const CHUNKED = (process.env.BODY ?? "chunked") === "chunked";
const rss = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const cpu = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ").slice(11, 13).map(Number).reduce((a, b) => a + b) / 100;

interface Gateway { url: string; pid: number; stop(): Promise<void> }

async function nodeGateway(nats: TestNatsServer, namespace: string): Promise<Gateway> {
  const port = await freePort();
  const { proc, exited } = spawnBundle("gateway", {
    env: { PATH: process.env.PATH ?? "", NATS_URL: nats.url, JWT_SECRET, ENCRYPTION_KEY: DEV_ENCRYPTION_KEY, BUS_NAMESPACE: namespace, LOG_LEVEL: "warn", PORT: String(port), HOST: "127.0.0.1", DATA_DIR: join(tmpdir(), `probe-${port}`) },
    logFile: join(tmpdir(), `probe-gateway-${port}.log`),
  });
  const url = `http://127.0.0.1:${port}`;
  while (!(await fetch(`${url}/healthz`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 100));
  return { url, pid: proc.pid!, stop: async () => { proc.kill("SIGTERM"); await exited; } };
}

/** The multipart body: a CSV of MB MiB in 64 KiB blocks, as a stream or (Content-Length) as a Blob of the same blocks. */
function body(boundary: string): BodyInit {
  const enc = new TextEncoder();
  const line = "1,some text here,2.5,2024-01-01\n";
  const block = enc.encode(line.repeat(65536 / line.length));
  const head = enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nid,name,v,d\n`);
  const tail = enc.encode(`\r\n--${boundary}--\r\n`);
  const blocks = (MB * 1024 * 1024) / block.length;
  if (!CHUNKED) return new Blob([head, ...Array.from({ length: blocks }, () => block), tail]);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    start(c) { c.enqueue(head); },
    pull(c) {
      if (sent++ < blocks) c.enqueue(block);
      else { c.enqueue(tail); c.close(); }
    },
  });
}

const nats = await TestNatsServer.startWithWebSocket();
const sys = await startTestSystem({ mode: "distributed", natsUrl: nats.url });
const token = await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u").setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
for (const rt of (process.env.RT ?? "node,workerd,deno").split(",")) {
  for (let run = 1; run <= RUNS; run++) {
    const gw = rt === "node" ? await nodeGateway(nats, sys.env.BUS_NAMESPACE!)
      : await startEdgeGateway(rt as "workerd" | "deno", { NATS_URL: nats.wsUrl, JWT_SECRET, BUS_NAMESPACE: sys.env.BUS_NAMESPACE!, LOG_LEVEL: "warn" });
    // workerd's start script is a Node process; the memory is its child's.
    const pid = rt === "workerd" ? Number(execFileSync("pgrep", ["-P", String(gw.pid)], { encoding: "utf8" }).trim()) : gw.pid;
    const before = rss(pid);
    let peak = before;
    const cpu0 = cpu(pid);
    const timer = setInterval(() => { peak = Math.max(peak, rss(pid)); }, 50);
    const t0 = performance.now();
    const res = await fetch(`${gw.url}/api/data/upload`, {
      method: "POST", body: body("xBoundary123"), duplex: "half",
      headers: { authorization: `Bearer ${token}`, "content-type": "multipart/form-data; boundary=xBoundary123" },
    } as RequestInit);
    const text = await res.text();
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    console.log(JSON.stringify({ runtime: rt, run, body: CHUNKED ? "chunked" : "length", status: res.status, mb: MB, seconds: +seconds.toFixed(1), cpuSeconds: +(cpu(pid) - cpu0).toFixed(1), rssBeforeMb: Math.round(before), rssPeakMb: Math.round(peak), ...(res.status === 201 ? {} : { answer: text.slice(0, 200) }) }));
    await gw.stop();
  }
}
await sys.stop();
await nats.dispose();
