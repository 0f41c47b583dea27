/**
 * `npx tsx test/bench/lib/probe-edge-upload.ts` (env MB=150, RT=workerd,deno, TEST_DATABASE_URL): one streamed
 * multipart upload of MB MiB through each edge gateway (private NATS with WebSocket, services in this
 * process), with the gateway process's wall time, CPU seconds and resident memory before and at peak.
 */
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { SignJWT } from "jose";
import { startTestSystem, JWT_SECRET } from "../../support/system.ts";
import { TestNatsServer } from "../../support/nats-server.ts";
import { startEdgeGateway } from "../../support/edge-gateway.ts";

const MB = Number(process.env.MB ?? 150);
const rss = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const nats = await TestNatsServer.startWithWebSocket();
const sys = await startTestSystem({ mode: "distributed", natsUrl: nats.url });
const token = await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u").setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
for (const rt of (process.env.RT ?? "workerd,deno").split(",") as ("workerd" | "deno")[]) {
  const gw = await startEdgeGateway(rt, { NATS_URL: nats.wsUrl, JWT_SECRET, BUS_NAMESPACE: sys.env.BUS_NAMESPACE!, LOG_LEVEL: "warn" });
  const pid = rt === "workerd" ? Number(execFileSync("pgrep", ["-P", String(gw.pid)], { encoding: "utf8" }).trim()) : gw.pid;
  const before = rss(pid);
  let peak = before;
  const cpu0 = readFileSync(`/proc/${pid}/stat`, "utf8").split(" ").slice(13, 15).map(Number).reduce((a, b) => a + b);
  const timer = setInterval(() => { peak = Math.max(peak, rss(pid)); }, 50);
  const boundary = "xBoundary123";
  const line = "1,some text here,2.5,2024-01-01\n";
  const block = new TextEncoder().encode(line.repeat(Math.floor(65536 / line.length)));
  const total = MB * 1024 * 1024;
  let sent = 0;
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) { c.enqueue(enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nid,name,v,d\n`)); },
    pull(c) {
      if (sent >= total) { c.enqueue(enc.encode(`\r\n--${boundary}--\r\n`)); c.close(); return; }
      c.enqueue(block); sent += block.length;
    },
  });
  const t0 = performance.now();
  const res = await fetch(`${gw.url}/api/data/upload`, { method: "POST", body, duplex: "half", headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}` } } as RequestInit);
  const text = await res.text();
  clearInterval(timer);
  const cpu1 = readFileSync(`/proc/${pid}/stat`, "utf8").split(" ").slice(13, 15).map(Number).reduce((a, b) => a + b);
  console.log(`cpu seconds of the gateway: ${(cpu1 - cpu0) / 100}`);
  console.log(JSON.stringify({ runtime: rt, status: res.status, mb: MB, seconds: ((performance.now() - t0) / 1000).toFixed(1), rssBeforeMb: before.toFixed(0), rssPeakMb: peak.toFixed(0), answer: text.slice(0, 120) }));
  await gw.stop();
}
await sys.stop();
await nats.dispose();
