// The console's view of a key's request log, in a real browser against the
// real worker: the key dialog's recent requests, refused calls in the usage
// chart, and revoked keys that are still being presented.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, skipBrowser, skipReason } from "./chromium.mjs";
import { base, call, newWorkspace, sessionToken } from "./console-helpers.mjs";

describe.skipIf(skipBrowser)(skipBrowser ? `console request log (${skipReason})` : "console request log", () => {
  /** @type {Awaited<ReturnType<typeof launch>>} */ let browser;

  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function openConsole(admin) {
    const page = await browser.context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base()}/console#token=${admin}`);
    return { page, errors };
  }

  /** A call with `key` from `ip`, as a script would make it. */
  const use = (method, path, key, ip = "203.0.113.7") =>
    fetch(base() + path, {
      method,
      headers: { Authorization: `Bearer ${key}`, "CF-Connecting-IP": ip, "Content-Type": "application/json" },
      body: method === "POST" ? JSON.stringify({ name: "x", type: "text", content: "y" }) : undefined,
    });

  /** Waits until the key's log holds `n` entries (each reaches a recorder shard in the background). */
  async function logged(admin, id, n) {
    await expect
      .poll(async () => (await call("GET", `/v1/api-keys/${id}/requests?limit=100`, admin)).body.data.length, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(n);
  }

  /** A key of a fresh workspace used 25 times (served) and twice without the scope (refused). */
  async function usedKey() {
    const admin = sessionToken(newWorkspace());
    const created = await call("POST", "/v1/api-keys", admin, { name: "Report builder", scopes: ["sources:read"] });
    expect(created.status).toBe(201);
    const key = created.body.key;
    for (let i = 0; i < 25; i++) expect((await use("GET", "/v1/key", key)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await use("POST", "/v1/sources", key, "198.51.100.23")).status).toBe(403);
    await logged(admin, created.body.id, 27);
    return { admin, id: created.body.id };
  }

  it("the key dialog lists the key's recent calls, refused ones marked, filtered by outcome, with Show more", async () => {
    const { admin } = await usedKey();
    const { page, errors } = await openConsole(admin);
    await page.getByRole("button", { name: /^Report builder/ }).click();
    const dialog = page.getByRole("dialog", { name: "Report builder" });
    const log = dialog.getByRole("table", { name: "Recent requests" });
    const rows = log.locator("tbody tr");
    // Newest first, a page of 20: the two refused calls on top.
    await expect.poll(() => rows.count()).toBe(20);
    const first = rows.first();
    expect(await first.getAttribute("class")).toBe("refused");
    expect(await first.locator("td").nth(0).textContent()).toBe("just now");
    expect(await first.locator("td").nth(1).textContent()).toBe("Refused: missing scope · 403");
    expect(await first.locator("td").nth(2).textContent()).toBe("POST /v1/sources");
    expect(await first.locator("td").nth(3).textContent()).toMatch(/^198\.51\.100\.23( \([A-Z]{2}\))?$/);
    const served = rows.nth(2);
    expect(await served.getAttribute("class")).toBeNull();
    expect(await served.locator("td").nth(1).textContent()).toBe("Served · 200");
    expect(await served.locator("td").nth(2).textContent()).toBe("GET /v1/key");
    expect(await log.locator("tr.refused").count()).toBe(2);

    // Show more: the rest, then nothing more to show.
    const more = dialog.getByRole("button", { name: "Show more requests" });
    await more.click();
    await expect.poll(() => rows.count()).toBe(27);
    expect(await more.isVisible()).toBe(false);

    // Only the refused ones, then only the served ones.
    const filter = dialog.getByLabel("Outcome");
    await filter.selectOption({ label: "Refused: missing scope" });
    await expect.poll(() => rows.count()).toBe(2);
    expect(await log.locator("tr.refused").count()).toBe(2);
    await filter.selectOption({ label: "Refused: key revoked" });
    await expect
      .poll(() => dialog.locator("#requests-state").textContent())
      .toBe("No “Refused: key revoked” requests in the last 30 days.");
    expect(await rows.count()).toBe(0);
    await filter.selectOption({ label: "Served" });
    await expect.poll(() => rows.count()).toBe(20);
    expect(await log.locator("tr.refused").count()).toBe(0);
    expect(await more.isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the usage chart stacks the refused calls on the served ones", async () => {
    const { admin, id } = await usedKey();
    await expect
      .poll(async () => (await call("GET", `/v1/api-keys/${id}/usage?days=1`, admin)).body.data[0].outcomes.insufficient_scope, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(2);
    const { page, errors } = await openConsole(admin);
    await page.getByRole("button", { name: /^Report builder/ }).click();
    const dialog = page.getByRole("dialog", { name: "Report builder" });
    await expect.poll(() => dialog.locator("#usage-summary").textContent()).toBe("27 requests in the last 30 days, 2 refused");
    const today = dialog.locator(`svg.bars g[data-date="${new Date().toISOString().slice(0, 10)}"]`);
    expect(await today.getAttribute("data-served")).toBe("25");
    expect(await today.getAttribute("data-refused")).toBe("2");
    expect(await today.locator("title").textContent()).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4}: 27 requests, 2 refused$/);
    const box = async (selector) => {
      const rect = today.locator(selector);
      return { y: Number(await rect.getAttribute("y")), height: Number(await rect.getAttribute("height")) };
    };
    const servedBar = await box("rect.bar");
    const refusedBar = await box("rect.refused-bar");
    expect(refusedBar.height).toBeGreaterThan(0);
    expect(servedBar.height).toBeGreaterThan(refusedBar.height);
    // Stacked: the refused part sits right on top of the served part.
    expect(refusedBar.y + refusedBar.height).toBeCloseTo(servedBar.y, 5);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a revoked key that is still being presented is flagged in the revoked table, and its refused calls are in its log", async () => {
    const admin = sessionToken(newWorkspace());
    const leaked = await call("POST", "/v1/api-keys", admin, { name: "Old CI runner", scopes: ["sources:read"] });
    const quiet = await call("POST", "/v1/api-keys", admin, { name: "Retired export", scopes: ["sources:read"] });
    for (const k of [leaked, quiet]) expect((await call("POST", `/v1/api-keys/${k.body.id}/revoke`, admin)).status).toBe(200);
    expect((await use("GET", "/v1/sources", leaked.body.key, "192.0.2.44")).status).toBe(401);
    await expect
      .poll(async () => (await call("GET", `/v1/api-keys/${leaked.body.id}`, admin)).body.usedAfterRevokeAt, {
        timeout: 30_000,
        interval: 250,
      })
      .not.toBeNull();

    const { page, errors } = await openConsole(admin);
    const revoked = page.getByRole("table", { name: "Revoked keys" });
    const leakedRow = revoked.getByRole("row", { name: /Old CI runner/ });
    await expect.poll(() => leakedRow.isVisible()).toBe(true);
    const badge = leakedRow.locator(".badge.presented");
    expect(await badge.textContent()).toBe("Still presented · just now");
    expect(await badge.getAttribute("title")).toMatch(/still presents this revoked key/);
    expect(
      await revoked
        .getByRole("row", { name: /Retired export/ })
        .locator(".badge.presented")
        .count(),
    ).toBe(0);

    await leakedRow.getByRole("button", { name: /Old CI runner/ }).click();
    const dialog = page.getByRole("dialog", { name: "Old CI runner" });
    await expect.poll(() => dialog.locator("dt:text-is('Still presented') + dd").textContent()).toBe("Last just now (refused)");
    const rows = dialog.getByRole("table", { name: "Recent requests" }).locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator("td").nth(1).textContent()).toBe("Refused: key revoked · 401");
    expect(await rows.first().locator("td").nth(3).textContent()).toMatch(/^192\.0\.2\.44/);
    expect(errors).toEqual([]);
    await page.close();
  });
});
