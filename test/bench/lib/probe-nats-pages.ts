/**
 * The bus floor of a CSV export: `tsx test/bench/lib/probe-nats-pages.ts`. A responder in another
 * process answers each pull with a page of PROBE_PAGE_BYTES (the connector's ~940 KB) from one
 * reused buffer, written as the connector writes (corked socket, pieces unpacked); this process
 * pulls PROBE_MB as the gateway does (the next page asked for before this one is handed on) and
 * drops the bytes. Prints MB/s and the CPU each process (and nats-server) spends per MB, from /proc.
 */
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { coalesceWrites, natsSocket, sendUnpacked } from "@dsb/runtime";

const url = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
const pageBytes = Number(process.env.PROBE_PAGE_BYTES ?? 940_000);
const subject = `probe.pages.${process.pid}`;

if (process.argv[2] === "responder") {
  const nc = await connect({ servers: url });
  coalesceWrites(natsSocket(nc)!, "loop");
  sendUnpacked(nc);
  const page = Buffer.alloc(pageBytes, 0x61);
  nc.subscribe(process.argv[3]!, { callback: (_e, m) => { m.respond(page); } });
  await nc.flush();
  console.log("ready");
} else {
  const cpuMs = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  };
  const natsPid = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).find((p) => {
    try { return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "nats-server"; } catch { return false; }
  });
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "responder", subject], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((ok) => child.stdout!.once("data", () => ok()));
  const nc = await connect({ servers: url });
  const total = Number(process.env.PROBE_MB ?? 80) * 1e6;
  for (let round = 0; round < Number(process.env.PROBE_ROUNDS ?? 3); round++) {
    const c0 = [cpuMs(child.pid!), natsPid ? cpuMs(natsPid) : 0];
    const me0 = process.cpuUsage();
    const t0 = performance.now();
    let got = 0;
    let next = nc.request(subject, undefined, { timeout: 10_000 });
    while (got < total) {
      const m = await next;
      got += m.data.length;
      if (got < total) next = nc.request(subject, undefined, { timeout: 10_000 });
    }
    const s = (performance.now() - t0) / 1000;
    const mb = got / 1e6;
    const me = process.cpuUsage(me0);
    const per = (ms: number) => (ms / mb).toFixed(2);
    console.log(`${mb.toFixed(0)} MB in pages of ${pageBytes}: ${(mb / s).toFixed(0)} MB/s; CPU ms per MB: responder ${per(cpuMs(child.pid!) - c0[0]!)}, ` +
      `requester ${per((me.user + me.system) / 1000)}, nats-server ${natsPid ? per(cpuMs(natsPid) - c0[1]!) : "?"}`);
  }
  child.kill();
  await nc.close();
}
