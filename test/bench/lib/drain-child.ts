/**
 * The client of a streamed export in a process of its own, as `psql \copy` is for the baseline:
 * `drainer()` forks this file once and each `drain` runs http.ts's `drain` here. In the bench
 * runner itself the client of a 1M-row CSV export took 590-720 ms of CPU against 96-123 ms here
 * (probe-export-ab.ts, CLIENT=inline): the response's buffers pushed V8 into full collections of
 * the runner's large heap (perf: ~30% GC, ~20% page faults), CPU taken from the two cores the
 * system under test shares with it, while psql's client is a small process of its own.
 */
import { fork, type ChildProcess } from "node:child_process";
import { drain } from "./http.ts";

type Drained = Awaited<ReturnType<typeof drain>>;
/** A drain's result, with the client process's CPU time (user + system) during it. */
export type ChildDrained = Drained & { cpuMs: number };
type Request = { n: number; url: string; token: string; path: string; json: unknown; accept: string };
type Answer = { n: number; ok: true; result: ChildDrained } | { n: number; ok: false; error: string };

if (process.argv[2] === "child") {
  process.on("message", (m: Request) => {
    const cpu0 = process.cpuUsage();
    drain(m.url, m.token, m.path, m.json, m.accept).then(
      (result) => {
        const c = process.cpuUsage(cpu0);
        process.send!({ n: m.n, ok: true, result: { ...result, cpuMs: (c.user + c.system) / 1000 } } satisfies Answer);
      },
      (e: unknown) => process.send!({ n: m.n, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies Answer),
    );
  });
  process.on("disconnect", () => process.exit(0));
  process.send!("ready");
}

/** A client process for streamed exports (`stop` ends it). Imports nothing but http.ts, so its heap stays small. */
export async function drainer(): Promise<{ drain(url: string, token: string, path: string, json: unknown, accept: string): Promise<ChildDrained>; stop(): void; pid: number }> {
  const child: ChildProcess = fork(import.meta.filename, ["child"], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await new Promise<void>((ok, fail) => {
    child.once("message", () => ok());
    child.once("exit", (code) => fail(new Error(`drain child exited with ${code}`)));
  });
  const waiting = new Map<number, { ok: (r: ChildDrained) => void; fail: (e: Error) => void }>();
  child.on("message", (a: Answer) => {
    const w = waiting.get(a.n);
    waiting.delete(a.n);
    if (a.ok) w?.ok(a.result);
    else w?.fail(new Error(a.error));
  });
  child.once("exit", (code) => {
    for (const w of waiting.values()) w.fail(new Error(`drain child exited with ${code}`));
    waiting.clear();
  });
  let n = 0;
  return {
    drain: (url, token, path, json, accept) => new Promise<ChildDrained>((ok, fail) => {
      const req: Request = { n: ++n, url, token, path, json, accept };
      waiting.set(req.n, { ok, fail });
      child.send(req);
    }),
    stop: () => { if (child.connected) child.disconnect(); },
    pid: child.pid!,
  };
}
