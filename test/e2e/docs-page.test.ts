import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { skipped } from "@dsb/runtime/testing";
import { CHROMIUM, haveChromium, launchChromium } from "../support/chromium.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

if (!haveChromium) skipped("docs page in a browser", `no Chromium at ${CHROMIUM} (apt-get install chromium)`);

describe.runIf(haveChromium)("/docs in headless Chromium with no network", () => {
  let sys: RunningSystem;
  let browser: Browser;
  beforeAll(async () => {
    sys = await startTestSystem({ mode: "embedded" });
    browser = await launchChromium();
  });
  afterAll(async () => { await browser?.close(); await sys?.stop(); });

  it("renders the interactive reference from the gateway's own assets", async () => {
    const page = await browser.newPage();
    const external: string[] = [];
    // Any request off this machine fails the test: the page must not need a CDN.
    await page.route("**/*", (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === "127.0.0.1" || u.hostname === "localhost") return route.continue();
      external.push(u.href);
      return route.abort();
    });
    await page.goto(`${sys.url}/docs`);
    await page.waitForSelector(".opblock-summary-path", { timeout: 30_000 });
    const paths = await page.$$eval(".opblock-summary-path", (els) => els.map((e) => e.getAttribute("data-path") ?? e.textContent ?? ""));
    expect(paths.join(" ")).toContain("/api/data/sources/{id}/query");
    expect(await page.title()).toBe("Data sources API");
    expect(external).toEqual([]);
  });
});
