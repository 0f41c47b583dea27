import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestNatsServer } from "../support/nats-server.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

/** Services on a private nats-server that the test kills and starts again. */
describe("NATS outage in distributed mode", () => {
  let nats: TestNatsServer;
  let sys: RunningSystem;
  beforeAll(async () => {
    nats = await TestNatsServer.start();
    sys = await startTestSystem({ mode: "distributed", natsUrl: nats.url });
  });
  afterAll(async () => {
    await sys?.stop();
    await nats?.dispose();
  });

  it("answers 503 UNAVAILABLE during the outage and recovers without restarting anything", async () => {
    expect((await sys.api("/api/data/sources")).status).toBe(200);
    await nats.stop();
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const down = await sys.api("/api/data/sources");
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ success: false, code: "UNAVAILABLE" });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await fetch(`${sys.url}/readyz`)).status).toBe(503);

    await nats.start();
    let status = 0;
    for (let i = 0; i < 80 && status !== 200; i++) {
      status = (await sys.api("/api/data/sources")).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
    let ready = 0;
    for (let i = 0; i < 40 && ready !== 200; i++) {
      ready = (await fetch(`${sys.url}/readyz`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(ready).toBe(200);
  });
});
