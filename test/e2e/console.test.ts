import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import type { Browser, Page } from "playwright-core";
import { skipped } from "@dsb/runtime/testing";
import { CHROMIUM, haveChromium, launchChromium } from "../support/chromium.ts";
import { createPgSource } from "../support/peers.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

const ROOT = resolve(import.meta.dirname, "../..");
/** Screenshots of every step, for people to look at (gitignored). */
const SHOTS = join(ROOT, "test/artifacts/console");

if (!haveChromium) skipped("web console in a browser", `no Chromium at ${CHROMIUM} (apt-get install chromium)`);

describe.runIf(haveChromium)("web console in headless Chromium, against a real system", () => {
  let sys: RunningSystem;
  let pgdb: Awaited<ReturnType<typeof createPgSource>>;
  let browser: Browser;
  let page: Page;
  let secret: string;
  const external: string[] = [];
  const problems: string[] = [];
  let step = 0;
  const shot = async (name: string, p: Page = page) => {
    step++;
    await p.screenshot({ path: join(SHOTS, `${String(step).padStart(2, "0")}-${name}.png`), fullPage: true });
  };
  const tokenFor = (claims: { sub: string; role?: string; exp?: string }) =>
    new SignJWT({ tenant_id: "demo-tenant", ...(claims.role ? { role: claims.role } : {}) }).setProtectedHeader({ alg: "HS256" })
      .setSubject(claims.sub).setIssuedAt().setExpirationTime(claims.exp ?? "1h").sign(new TextEncoder().encode(secret));

  beforeAll(async () => {
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    const built = spawnSync(process.execPath, ["scripts/build-web.mjs"], { cwd: ROOT, encoding: "utf8" });
    if (built.status !== 0) throw new Error(`console build failed: ${built.stderr || built.stdout}`);
    pgdb = await createPgSource([
      "create table orders (id integer primary key, region text not null, amount numeric(10,2), qty integer, placed_on date)",
      "insert into orders select i, (array['EU','US','APAC','LATAM'])[1 + i % 4], (i % 50) * 1.5, i % 7, date '2025-01-01' + i % 30 from generate_series(1, 400) i",
      "create view big_orders as select * from orders where amount > 50",
      "analyze orders",
    ]);
    // No JWT_SECRET: embedded mode generates one and its sample token, which the sign-in page offers.
    sys = await startTestSystem({ mode: "embedded", env: { JWT_SECRET: "" } });
    secret = readFileSync(join(sys.dataDir, "jwt.secret"), "utf8").trim();
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true, colorScheme: "light" });
    // Exports use the download fallback here: the save-file picker is a native dialog a test cannot answer.
    await context.addInitScript(() => {
      delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
      document.addEventListener("securitypolicyviolation", (e) => {
        ((window as unknown as { __csp: string[] }).__csp ??= []).push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${(e.target as Element)?.outerHTML?.slice(0, 120)}`);
      });
    });
    await context.route("**/*", (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === "127.0.0.1" || u.protocol === "data:" || u.protocol === "blob:") return route.continue();
      external.push(u.href);
      return route.abort();
    });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail" && page) await shot(`FAILED-${ctx.task.name.slice(0, 40).replace(/\W+/g, "-")}`).catch(() => undefined);
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
    await pgdb?.drop();
  });

  /** Form controls and buttons a screen reader could not name (no label, aria-label or text). */
  const unlabelled = () => page.evaluate(() => [...document.querySelectorAll("input, select, textarea, button, [role=tab], [role=radio]")]
    .filter((el) => {
      const e = el as HTMLInputElement;
      if (e.type === "hidden" || e.closest("[hidden]")) return false;
      return !(e.labels?.length || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby") || e.textContent?.trim());
    }).map((el) => el.outerHTML.slice(0, 100)));
  const csp = () => page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
  const sourceItem = (name: string) => page.locator(".source-list li", { hasText: name });

  it("signs in: an expired token is refused with a sentence, the embedded sample token works", async () => {
    const res = await page.goto(`${sys.url}/`);
    expect(res?.headers()["content-security-policy"]).toContain("default-src 'self'");
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      const r = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
      return { domContentLoaded: n.domContentLoadedEventEnd, bytes: n.transferSize + r.reduce((s, x) => s + x.transferSize, 0) };
    });
    await page.getByRole("heading", { name: "Data sources console" }).waitFor();
    console.log(`console first load: ${nav.bytes} bytes transferred, DOMContentLoaded at ${Math.round(nav.domContentLoaded)} ms`);
    await page.getByLabel("Token").fill(await tokenFor({ sub: "demo-user", exp: "-1m" }));
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/expired/i);
    await shot("sign-in-expired");
    // A token the server refuses (another secret) comes back to the sign-in page with the reason.
    await page.getByLabel("Token").fill(await new SignJWT({ tenant_id: "demo-tenant" }).setProtectedHeader({ alg: "HS256" }).setSubject("x")
      .setExpirationTime("1h").sign(new TextEncoder().encode("another-secret-another-secret-000000")));
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/refused the token/i);
    await page.getByRole("button", { name: "Use the sample token" }).click();
    await page.getByRole("heading", { name: "Sources" }).waitFor();
    await expect.poll(() => page.locator(".who").textContent()).toContain("demo-user");
    await shot("signed-in");
  });

  it("connects PostgreSQL: the form comes from GET /databases, errors sit by their field, Test before Save", async () => {
    await page.getByRole("button", { name: "+ Database" }).click();
    await page.getByRole("radio", { name: "PostgreSQL" }).check();
    await page.getByLabel(/^Name/).fill("Orders DB");
    await page.getByLabel(/^Host/).fill("127.0.0.1");
    expect(await page.getByLabel(/^Port/).inputValue()).toBe("5432");
    await page.getByLabel(/^Database/).fill("no_such_db_here");
    await page.getByLabel(/^User name/).fill("postgres");
    expect(await page.getByLabel(/^Password/).getAttribute("type")).toBe("password");
    expect(await page.getByRole("button", { name: "Save" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Test connection" }).click();
    const dbError = page.locator("#f-database-error");
    await dbError.waitFor();
    expect(await dbError.textContent()).toMatch(/no_such_db_here/);
    expect(await page.getByLabel(/^Database/).getAttribute("aria-invalid")).toBe("true");
    await shot("connect-field-error");
    await page.getByLabel(/^Database/).fill(pgdb.database);
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.getByRole("status").filter({ hasText: "✓" }).waitFor();
    await shot("connect-tested");
    expect(await unlabelled()).toEqual([]);
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "Orders DB", level: 1 }).waitFor();
    expect(await sourceItem("Orders DB").textContent()).toMatch(/postgresql.*400 rows/);
    expect(await sourceItem("Orders DB").locator(".dot").getAttribute("aria-label")).toMatch(/healthy|degraded|unhealthy|unknown/);
    // Testing the stored source updates its health, and the dot follows.
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.locator(".source-title").getByRole("status").filter({ hasText: "✓" }).waitFor();
    await expect.poll(() => sourceItem("Orders DB").locator(".dot").getAttribute("aria-label")).toBe("healthy");
    await expect.poll(() => page.locator(".health-counts").textContent()).toContain("1 healthy");
  });

  it("browses the schema, and a refresh highlights what changed", async () => {
    const orders = page.locator("details.table", { hasText: "public.orders" });
    await orders.waitFor();
    expect(await orders.locator("summary").textContent()).toMatch(/400 rows/);
    expect(await page.locator("details.table", { hasText: "public.big_orders" }).locator(".badge").textContent()).toBe("view");
    if (!(await orders.getAttribute("open"))) await orders.locator("summary").click();
    expect(await orders.locator("tr", { hasText: "id" }).first().textContent()).toContain("PK");
    await shot("schema");
    await pgdb.exec("alter table orders add column note text");
    await page.getByRole("button", { name: "↻ Refresh schema" }).click();
    await page.locator(".changes").waitFor();
    expect(await page.locator(".changes").textContent()).toContain("column added: public.orders.note");
    expect(await orders.locator("tr.changed").textContent()).toContain("note");
    await shot("schema-refreshed");
  });

  it("builds a grouped query, shows its SQL, charts it and exports it as CSV", async () => {
    await page.getByRole("tab", { name: "Query builder" }).click();
    await page.getByLabel("Table").selectOption("public.orders");
    await page.locator("fieldset", { hasText: "Group by" }).getByLabel("region").check();
    await page.getByRole("button", { name: "+ Aggregate" }).click();
    await page.getByRole("button", { name: "+ Aggregate" }).click();
    await page.getByLabel("Aggregate 2 function").selectOption("sum");
    await page.getByLabel("Aggregate 2 column").selectOption("amount");
    await page.getByLabel("Aggregate 2 name").fill("total");
    await page.getByRole("button", { name: "+ Filter" }).click();
    await page.getByLabel("Filter 1 column").selectOption("qty");
    expect(await page.getByLabel("Filter 1 operator").locator("option").allTextContents()).not.toContain("contains");
    await page.getByLabel("Filter 1 operator").selectOption(">=");
    await page.getByLabel("Filter 1 value").fill("1");
    await page.getByRole("button", { name: "+ Order" }).click();
    await page.getByLabel("Order 1 column").selectOption("region");
    expect(await unlabelled()).toEqual([]);
    await page.getByRole("button", { name: "Show SQL" }).click();
    const sql = await page.getByLabel("Equivalent SQL").textContent();
    expect(sql).toMatch(/group by "region"/);
    expect(sql).toMatch(/sum\("amount"\) as "total"/);
    await page.getByRole("button", { name: "▶ Run" }).click();
    await page.locator(".results-head").waitFor();
    await expect.poll(() => page.locator(".grid-row").count()).toBe(4);
    expect(await page.locator(".grid-head").textContent()).toMatch(/region.*count.*total/);
    expect(await page.locator(".grid-row").first().textContent()).toContain("APAC");
    await shot("builder-grouped");
    await page.getByRole("radio", { name: "Chart" }).click();
    await page.locator("#chart-y").selectOption({ label: "total" });
    expect(await page.locator("svg.chart-svg rect.bar").count()).toBe(4);
    await shot("chart-bar");
    await page.getByRole("radio", { name: "line" }).click();
    expect(await page.locator("svg.chart-svg polyline.line").count()).toBe(1);
    await page.getByRole("radio", { name: "bar" }).click();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "⇩ CSV" }).click()]);
    const csv = readFileSync((await download.path())!, "utf8").trim().split(/\r?\n/);
    expect(csv[0]).toBe("region,count,total");
    expect(csv.length).toBe(5);
    const [nd] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "⇩ NDJSON" }).click()]);
    expect(JSON.parse(readFileSync((await nd.path())!, "utf8").split("\n")[0]!)).toHaveProperty("region", "APAC");
    await page.getByRole("radio", { name: "Table" }).click();
  });

  it("runs SQL from the editor with completion, parameters, Ctrl+Enter and cancel", async () => {
    await page.getByRole("tab", { name: "SQL" }).click();
    const editor = page.locator(".cm-content");
    await editor.waitFor();
    expect(await editor.getAttribute("aria-label")).toBe("SQL query");
    expect(await unlabelled()).toEqual([]);
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type("select region, count(*) as n from ord");
    await page.keyboard.press("Control+Space");
    await page.locator(".cm-tooltip-autocomplete").getByText("orders", { exact: true }).waitFor();
    // CodeMirror ignores Enter for 75 ms after the list opens (so fast typing never accepts by accident).
    await page.waitForTimeout(150);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator(".cm-content").textContent()).toContain("from orders");
    await page.keyboard.type(" where amount > $1 group by region order by region");
    await page.keyboard.press("Escape");
    await page.getByLabel(/^Parameters/).fill("[60]");
    await editor.click();
    await page.keyboard.press("Control+Enter");
    await expect.poll(() => page.locator(".grid-row").count()).toBe(4);
    expect(await page.locator(".results-head").textContent()).toMatch(/4\s*rows/);
    await shot("sql-editor");
    // A long query and the cancel button.
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type("select pg_sleep(5)");
    await page.getByLabel(/^Parameters/).fill("");
    await page.keyboard.press("Tab");
    await page.getByRole("button", { name: "▶ Run" }).click();
    await page.getByRole("button", { name: "■ Cancel" }).click();
    await page.getByRole("alert").filter({ hasText: /cancel/i }).waitFor();
  });

  it("keeps 100,000 rows in a virtualised grid that scrolls to the last row", async () => {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type("select g as id, md5(g::text) as label from generate_series(1, 100000) g");
    await page.keyboard.press("Escape");
    await page.getByLabel(/^Row limit/).fill("100000");
    await page.getByRole("button", { name: "▶ Run" }).click();
    await page.locator(".results-head").filter({ hasText: /100,000\s*rows/ }).waitFor({ timeout: 45_000 });
    const grid = page.getByRole("grid", { name: "Query results" });
    expect(await grid.getAttribute("aria-rowcount")).toBe("100001");
    // Only the rows in view are in the page, at the top and after scrolling to the end.
    expect(await page.locator(".grid-row").count()).toBeLessThan(100);
    await grid.evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await page.locator(".grid-row", { hasText: /^100000/ }).waitFor();
    expect(await page.locator(".grid-row").count()).toBeLessThan(100);
    await shot("grid-100k-end");
  });

  it("uploads a CSV with a byte progress bar, shows the parsed schema and queries the file", async () => {
    const lines = ["city,temp_c,day"];
    for (let i = 0; i < 60_000; i++) lines.push(`${["Oslo", "Lima", "Pune"][i % 3]},${(i % 40) - 5},2025-02-${String((i % 28) + 1).padStart(2, "0")}`);
    const buffer = Buffer.from(lines.join("\n"));
    await page.getByRole("button", { name: "↑ File" }).click();
    await page.getByLabel("File to upload").setInputFiles({ name: "weather.csv", mimeType: "text/csv", buffer });
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __progress: number[] }).__progress = seen;
      new MutationObserver(() => {
        const p = document.querySelector<HTMLProgressElement>("#upload-progress");
        if (p) seen.push(p.value / p.max);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "is ready" }).waitFor();
    const progress = await page.evaluate(() => (window as unknown as { __progress: number[] }).__progress);
    expect(progress.length).toBeGreaterThan(0);
    expect(Math.max(...progress)).toBe(1);
    expect(await page.locator(".parsed").textContent()).toMatch(/temp_c/);
    await shot("upload-parsed");
    await page.getByRole("button", { name: "Open weather" }).click();
    await page.getByRole("heading", { name: "weather", level: 1 }).waitFor();
    expect(await page.getByRole("tab", { name: "SQL" }).count()).toBe(0);
    await page.getByRole("tab", { name: "Query builder" }).click();
    await page.locator("fieldset", { hasText: "Group by" }).getByLabel("city").check();
    await page.getByRole("button", { name: "+ Aggregate" }).click();
    await page.getByLabel("Aggregate 1 function").selectOption("avg");
    await page.getByLabel("Aggregate 1 column").selectOption("temp_c");
    await page.getByRole("button", { name: "▶ Run" }).click();
    await expect.poll(() => page.locator(".grid-row").count()).toBe(3);
    await shot("file-query");
  });

  it("shows the history: re-run an entry, open it in the builder or the editor; stats or a note", async () => {
    await sourceItem("Orders DB").locator("a").click();
    await page.getByRole("tab", { name: "History" }).click();
    const entries = page.locator(".history-entry");
    await expect.poll(() => entries.count()).toBeGreaterThanOrEqual(3);
    // The cancelled query: the server stopped it (POST /queries/{id}/cancel) and says so.
    expect(await entries.filter({ hasText: "pg_sleep" }).first().textContent()).toMatch(/cancel/i);
    await shot("history");
    const grouped = entries.filter({ hasText: '"group_by"' }).first();
    await grouped.getByRole("button", { name: "Open in builder" }).click();
    await page.getByRole("tab", { name: "Query builder", selected: true }).waitFor();
    expect(await page.locator("fieldset", { hasText: "Group by" }).getByLabel("region").isChecked()).toBe(true);
    await page.getByRole("tab", { name: "History" }).click();
    await grouped.getByRole("button", { name: "▶ Re-run" }).click();
    await expect.poll(() => page.locator(".grid-row").count()).toBe(4);
    // History keeps no parameters: a parameterised entry is opened in the editor, not re-run blind.
    const withParams = entries.filter({ hasText: "count(*) as n" }).first();
    expect(await withParams.getByRole("button", { name: "▶ Re-run" }).count()).toBe(0);
    await withParams.getByRole("button", { name: "Open in SQL editor" }).click();
    await expect.poll(() => page.locator(".cm-content").textContent()).toContain("count(*) as n");
    await page.getByRole("tab", { name: "Stats" }).click();
    await page.locator(".kpis, .alert.info").first().waitFor();
    await shot("stats");
  });

  it("reads at 320 px, in dark mode and on a 4K screen", async () => {
    await page.getByRole("tab", { name: "Query builder" }).click();
    await page.getByRole("button", { name: "▶ Run" }).click();
    await page.locator(".grid-row").first().waitFor();
    await page.getByRole("button", { name: /Switch to dark mode/ }).click();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await shot("dark");
    await page.setViewportSize({ width: 320, height: 740 });
    // Nothing wider than the screen but the grid's own scroll box.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await shot("narrow-320-dark");
    await page.getByRole("button", { name: /Switch to light mode/ }).click();
    await page.setViewportSize({ width: 3840, height: 2160 });
    expect(await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize))).toBeGreaterThanOrEqual(20);
    await shot("4k");
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it("renames a source in place", async () => {
    await sourceItem("weather").locator("a").click();
    await page.getByRole("button", { name: "Rename weather.csv" }).click();
    await page.getByLabel("New name").fill("Weather 2025");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "Weather 2025", level: 1 }).waitFor();
    await expect.poll(() => sourceItem("Weather 2025").count()).toBe(1);
  });

  it("refuses a delete by someone else with the reason, and deletes after confirmation", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Token").fill(await tokenFor({ sub: "colleague" }));
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("button", { name: "Delete Orders DB" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("alert").filter({ hasText: /only the user who added it, or an admin/ }).waitFor();
    await shot("delete-forbidden");
    await page.getByRole("dialog").getByRole("button", { name: "Keep it" }).click();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Use the sample token" }).click();
    await page.getByRole("button", { name: "Delete Orders DB" }).click();
    await shot("delete-confirm");
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await expect.poll(() => sourceItem("Orders DB").count()).toBe(0);
    expect(await sourceItem("weather").count()).toBe(1);
  });

  it("fetched nothing from outside, broke no CSP rule, threw no error", async () => {
    expect(external).toEqual([]);
    const violations = await csp();
    if (violations.length) console.log("CSP violations:", violations);
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
  });
});
