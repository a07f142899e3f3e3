// The console page in a real browser (Debian's Chromium via playwright-core),
// against the real worker started by wrangler dev (global-setup.mjs).

import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launch, skipBrowser, skipReason } from "./chromium.mjs";
import { answerLists, call, keyDialogLoaded, keyRecord, newWorkspace, reportLeak, sessionToken as token } from "./console-helpers.mjs";

const KEY_PATTERN = /^sk_live_[0-9A-Za-z]{38}$/;
/** The page with every kind of row (docs/console.png is copied from it), and the key dialog with its chart. */
const SCREENSHOT = "test-results/console.png";
const KEY_SCREENSHOT = "test-results/console-key.png";

describe.skipIf(skipBrowser)(skipBrowser ? `console page (${skipReason})` : "console page", () => {
  /** @type {string} */ let base;
  /** @type {Awaited<ReturnType<typeof launch>>} */ let browser;

  /** Opens the console signed in through the URL fragment; records every request the page makes. */
  async function openConsole(sessionToken) {
    const page = await browser.context.newPage();
    const requests = [];
    const errors = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/console${sessionToken ? `#token=${sessionToken}` : ""}`);
    return { page, requests, errors };
  }

  /** Everything a person or a script on the page could read: markup, field values, URL, storage, cookies. */
  const pageContents = (page) =>
    page.evaluate(() => {
      const values = [...document.querySelectorAll("input, textarea")].map((el) => el.value);
      const storage = [];
      for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++) storage.push(s.key(i), s.getItem(s.key(i)));
      return [
        document.documentElement.outerHTML,
        document.body.innerText,
        ...values,
        location.href,
        document.cookie,
        ...storage,
        history.state ?? "",
      ].join("\n");
    });

  beforeAll(async () => {
    base = inject("workerBase");
    browser = await launch();
    await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("without a token, shows how to sign in and calls nothing", async () => {
    const { page, requests, errors } = await openConsole();
    await expect.poll(() => page.getByRole("heading", { name: "Sign in to manage API keys" }).isVisible()).toBe(true);
    expect(await page.getByLabel("Session token").isVisible()).toBe(true);
    expect(await page.getByText("npm run dev").isVisible()).toBe(true);
    expect(await page.getByRole("heading", { name: "Active keys" }).isVisible()).toBe(false);
    expect(requests.filter((u) => u.includes("/v1/"))).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a pasted token signs in; a bad one brings the sign-in back with the reason", async () => {
    const { page } = await openConsole();
    await page.getByLabel("Session token").fill("not-a-session-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").first().textContent()).toMatch(/no longer valid \(invalid credentials\)/);
    expect(await page.getByLabel("Session token").inputValue()).toBe("");

    await page.getByLabel("Session token").fill(token(newWorkspace()));
    await page.getByLabel("Session token").press("Enter");
    await expect.poll(() => page.getByText("No active keys yet").isVisible()).toBe(true);
    expect(await page.getByText("Signed in as usr_browser_admin").isVisible()).toBe(true);
    await page.close();
  });

  it("a member session gets the API's refusal as an error state, not an empty list", async () => {
    const { page } = await openConsole(token(newWorkspace(), "member", "usr_member"));
    await expect
      .poll(() => page.locator("#active-state").textContent())
      .toMatch(/Couldn't load active keys: Only workspace admins can manage API keys/);
    expect(await page.getByRole("button", { name: "Try again" }).first().isVisible()).toBe(true);
    await page.close();
  });

  it("shows loading, then an error with a retry that recovers", async () => {
    const { page } = await openConsole();
    let failNext = true;
    let release;
    const held = new Promise((r) => (release = r));
    await page.route("**/v1/api-keys?status=active*", async (route) => {
      if (failNext) {
        failNext = false;
        await held;
        return route.fulfill({
          status: 503,
          contentType: "application/problem+json",
          body: JSON.stringify({
            type: "about:blank",
            title: "Service unavailable",
            status: 503,
            code: "unavailable",
            detail: "Storage is unreachable.",
          }),
        });
      }
      return route.continue();
    });
    await page.evaluate((t) => (location.hash = `token=${t}`), token(newWorkspace()));
    await expect.poll(() => page.locator("#active-state").textContent()).toBe("Loading active keys…");
    expect(await page.locator("#active-table").getAttribute("aria-busy")).toBe("true");
    release();
    await expect.poll(() => page.locator("#active-state").textContent()).toMatch(/Couldn't load active keys: Storage is unreachable/);
    await page.locator("#active-state").getByRole("button", { name: "Try again" }).click();
    await expect.poll(() => page.locator("#active-state").textContent()).toMatch(/No active keys yet/);
    expect(await page.locator("#active-table").getAttribute("aria-busy")).toBeNull();
    await page.close();
  });

  it("formats times for people, with the full time on hover, and marks expiring keys", async () => {
    const { page } = await openConsole();
    const now = Date.now();
    await answerLists(page, {
      active: [
        keyRecord({
          id: "key_1",
          name: "Minutes",
          createdAt: new Date(now - 3 * 86_400_000).toISOString(),
          lastUsedAt: new Date(now - 3 * 60_000 - 5_000).toISOString(),
          expiresAt: new Date(now + 2 * 86_400_000).toISOString(),
        }),
        keyRecord({
          id: "key_2",
          name: "Gone stale",
          createdAt: new Date(now - 3 * 86_400_000).toISOString(),
          lastUsedAt: new Date(now - 2 * 3_600_000).toISOString(),
          expiresAt: new Date(now - 86_400_000).toISOString(),
        }),
      ],
    });
    await page.evaluate((t) => (location.hash = `token=${t}`), token(newWorkspace()));
    const minutes = page.getByRole("row", { name: /Minutes/ });
    await expect.poll(() => minutes.locator("td").nth(3).textContent()).toBe("3 minutes ago");
    expect(await minutes.locator("td").nth(4).textContent()).toBe("3 days ago");
    const hover = await minutes.locator("td").nth(3).locator("time").getAttribute("title");
    expect(hover).toMatch(new RegExp(String(new Date(now).getUTCFullYear())));
    expect(hover).toMatch(/UTC|GMT/);
    expect(await minutes.locator(".badge").textContent()).toBe("Expires in 2 days");
    expect(await minutes.locator(".badge time").getAttribute("title")).toMatch(/UTC|GMT/);
    const stale = page.getByRole("row", { name: /Gone stale/ });
    expect(await stale.locator("td").nth(3).textContent()).toBe("2 hours ago");
    expect(await stale.locator(".badge").textContent()).toBe("Stopped · expired yesterday");
    await page.close();
  });

  it("pages through a long list with Show more, following nextCursor", async () => {
    const ws = newWorkspace();
    const admin = token(ws);
    for (let i = 1; i <= 3; i++)
      expect((await call("POST", "/v1/api-keys", admin, { name: `key ${i}`, scopes: ["sources:read"] })).status).toBe(201);
    const { page, requests } = await openConsole();
    // Pages of two: the page asks for 50, this shrinks the page size to show the cursor at work.
    await page.route("**/v1/api-keys?status=active*", (route) =>
      route.continue({ url: route.request().url().replace("limit=50", "limit=2") }),
    );
    await page.evaluate((t) => (location.hash = `token=${t}`), admin);
    const table = page.getByRole("table", { name: "Active keys" });
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
    const more = page.getByRole("button", { name: "Show more active keys" });
    expect(await more.isVisible()).toBe(true);
    await more.click();
    await expect.poll(() => table.locator("tbody tr").count()).toBe(3);
    expect(await table.locator("tbody tr td:first-child button").allTextContents()).toEqual(["key 3", "key 2", "key 1"]);
    expect(await more.isVisible()).toBe(false);
    expect(requests.filter((u) => u.includes("status=active")).some((u) => u.includes("cursor="))).toBe(true);
    await page.close();
  });

  it("create → copy once → use → last used → revoke → revoked list", async () => {
    const ws = newWorkspace();
    const admin = token(ws);
    // Two keys made by a script, so that the screenshot shows a lived-in page.
    await call("POST", "/v1/api-keys", admin, { name: "Docs sync", scopes: ["sources:read", "sources:write"] });
    const zapier = await call("POST", "/v1/api-keys", admin, { name: "Zapier import", scopes: ["sources:read"] });
    expect(zapier.status).toBe(201);
    expect((await call("GET", "/v1/sources", zapier.body.key)).status).toBe(200);

    const { page, requests, errors } = await openConsole(admin);
    // The token left the address bar and history entry at once.
    expect(page.url()).toBe(`${base}/console`);
    await expect.poll(() => page.getByRole("row", { name: /Docs sync/ }).isVisible()).toBe(true);
    await expect.poll(() => page.getByText("No revoked keys.").isVisible()).toBe(true);

    // Create, with the keyboard only.
    await page.getByRole("button", { name: "Create API key" }).focus();
    await page.keyboard.press("Enter");
    const create = page.getByRole("dialog", { name: "Create API key" });
    await expect.poll(() => create.isVisible()).toBe(true);
    for (const [name, line] of [
      ["Sources Read", "List and inspect knowledge sources."],
      ["Sources Write", "Create and update sources."],
      ["Sources Delete", "Remove sources."],
    ]) {
      const box = create.getByRole("checkbox", { name: new RegExp(name) });
      expect(
        await box.evaluate(
          (el) => el.getAttribute("aria-describedby") && document.getElementById(el.getAttribute("aria-describedby")).textContent,
        ),
      ).toBe(line);
    }
    const postsBefore = requests.length;
    await page.keyboard.press("Enter"); // submit with nothing filled in
    await expect.poll(() => create.getByText("Give the key a name.").isVisible()).toBe(true);
    expect(await create.getByText("Choose at least one scope.").isVisible()).toBe(true);
    expect(requests.length).toBe(postsBefore);

    await page.keyboard.type("Browser test key");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Space"); // Sources Read
    await page.keyboard.press("Tab");
    await page.keyboard.press("Space"); // Sources Write
    await page.keyboard.press("Tab"); // Sources Delete: left unchecked
    await page.keyboard.press("Tab"); // More options: left closed
    await page.keyboard.press("Tab"); // Cancel
    await page.keyboard.press("Tab"); // Create key
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Create key");
    await page.keyboard.press("Enter");

    // The post-create dialog: the whole key, once, with a warning and a Copy button.
    const reveal = page.getByRole("dialog", { name: "Your new API key" });
    await expect.poll(() => reveal.isVisible()).toBe(true);
    expect(await reveal.getByText("You won't be able to see it again").isVisible()).toBe(true);
    const key = (await reveal.locator("#secret-value").textContent()) ?? "";
    expect(key).toMatch(KEY_PATTERN);
    await reveal.getByRole("button", { name: "Copy" }).click();
    await expect.poll(() => reveal.getByText("Copied to the clipboard.").isVisible()).toBe(true);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    await page.evaluate(() => navigator.clipboard.writeText("")); // leave nothing behind
    await reveal.getByRole("button", { name: "Done" }).click();
    await expect.poll(() => reveal.isVisible()).toBe(false);

    // Gone from the page: markup, text, fields, URL, storage, cookies, history.
    const contents = await pageContents(page);
    expect(contents).not.toContain(key);
    expect(contents).not.toContain(key.slice(12));
    expect(contents).not.toContain(admin);
    expect(requests.some((u) => u.includes(key) || u.includes(admin))).toBe(false);

    const row = page.getByRole("row", { name: /Browser test key/ });
    await expect.poll(() => row.isVisible()).toBe(true);
    expect(await row.locator("td").nth(1).textContent()).toBe(`${key.slice(0, 12)}…`);
    expect(await row.locator("td").nth(2).textContent()).toBe("sources:readsources:write");
    expect(await row.locator("td").nth(3).textContent()).toBe("Never");
    expect(await row.locator("td").nth(4).textContent()).toBe("just now");

    // A script uses the key on the public API.
    const me = await call("GET", "/v1/key", key);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ name: "Browser test key", workspaceId: ws, scopes: ["sources:read", "sources:write"] });
    expect((await call("POST", "/v1/sources", key, { type: "url", name: "Help center", url: "https://help.example.com" })).status).toBe(
      201,
    );
    expect((await call("GET", "/v1/sources", key)).status).toBe(200);

    // Last used appears once the recorder has flushed (every second here); Refresh re-reads the list.
    await expect
      .poll(
        async () => {
          await page.getByRole("button", { name: "Refresh" }).click();
          await page.waitForFunction(() => !document.querySelector("#active-table[aria-busy]"));
          return row.locator("td").nth(3).textContent();
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toBe("just now");
    const used = await row.locator("td").nth(3).locator("time").getAttribute("datetime");
    expect(Date.now() - Date.parse(used ?? "")).toBeLessThan(60_000);
    expect(await row.locator("td").nth(3).locator("time").getAttribute("title")).toBeTruthy();

    // Click the row (not the name) → Revoke… → confirmation; "Keep key" changes nothing.
    await row.locator("td").nth(2).click();
    const details = page.getByRole("dialog", { name: "Browser test key" });
    await keyDialogLoaded(details);
    await details.getByRole("button", { name: "Revoke…" }).click();
    expect(await details.getByText("Revoke “Browser test key”?").isVisible()).toBe(true);
    expect(await details.getByText(/can't be reactivated/).isVisible()).toBe(true);
    // While it asks, the only ways on are the two answers.
    expect(await details.getByRole("button", { name: "Revoke…" }).isVisible()).toBe(false);
    expect(await details.getByRole("button", { name: "Close" }).isVisible()).toBe(false);
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Keep key");
    await details.getByRole("button", { name: "Keep key" }).click();
    await details.getByRole("button", { name: "Close" }).click();
    expect((await call("GET", "/v1/key", key)).status).toBe(200);

    // Keyboard this time: the name is a button that opens the same dialog.
    await row.getByRole("button", { name: /Browser test key/ }).focus();
    await page.keyboard.press("Enter");
    await keyDialogLoaded(details);
    await details.getByRole("button", { name: "Revoke…" }).click();
    await details.getByRole("button", { name: "Revoke key" }).click();
    await expect.poll(() => details.isVisible()).toBe(false);
    await expect.poll(() => page.getByRole("status").filter({ hasText: "Revoked “Browser test key”" }).isVisible()).toBe(true);

    const activeTable = page.getByRole("table", { name: "Active keys" });
    const revokedTable = page.getByRole("table", { name: "Revoked keys" });
    await expect.poll(() => revokedTable.getByRole("row", { name: /Browser test key/ }).isVisible()).toBe(true);
    expect(await activeTable.getByRole("row", { name: /Browser test key/ }).count()).toBe(0);
    const revokedRow = revokedTable.getByRole("row", { name: /Browser test key/ });
    expect(await revokedRow.locator("td").nth(5).textContent()).toBe("just now");
    expect(await revokedRow.locator("td").nth(3).textContent()).toBe("just now"); // last use kept for audit

    // Revocation is real: the key no longer works.
    const refused = await call("GET", "/v1/key", key);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("revoked_api_key");

    // Revoked keys offer no Revoke.
    await revokedRow.locator("td").nth(1).click();
    const revokedDetails = page.getByRole("dialog", { name: "Browser test key" });
    await expect.poll(() => revokedDetails.isVisible()).toBe(true);
    expect(await revokedDetails.getByRole("button", { name: "Revoke…" }).isVisible()).toBe(false);
    await page.keyboard.press("Escape");
    await expect.poll(() => revokedDetails.isVisible()).toBe(false);

    await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/console-create-revoke.png", fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  /** Waits until the API counts `calls` uses of a key today (the recorder flushes every second here). */
  async function usedToday(admin, id, calls) {
    await expect
      .poll(async () => (await call("GET", `/v1/api-keys/${id}/usage?days=30`, admin)).body.total, { timeout: 30_000, interval: 500 })
      .toBe(calls);
  }

  it("guard rails → usage chart → edit → roll with overlap → revoke, with the reason each revoked key went", async () => {
    const ws = newWorkspace();
    const admin = token(ws);
    // An idle key, made by a script, for the 30-day column to compare with.
    const idle = await call("POST", "/v1/api-keys", admin, { name: "Nightly export", scopes: ["sources:read"] });
    expect(idle.status).toBe(201);

    const { page, requests, errors } = await openConsole(admin);
    // The chart and everything else keep within the page's CSP (no inline style): Chromium reports any violation on the console.
    const violations = [];
    page.on("console", (m) => m.text().includes("Content Security Policy") && violations.push(m.text()));
    const activeTable = page.getByRole("table", { name: "Active keys" });
    const revokedTable = page.getByRole("table", { name: "Revoked keys" });
    await expect.poll(() => activeTable.getByRole("row", { name: /Nightly export/ }).isVisible()).toBe(true);
    // One call for every key's 30-day total, not one per key.
    expect(requests.filter((u) => u.includes("/v1/key-usage")).length).toBe(1);
    await expect
      .poll(() =>
        activeTable
          .getByRole("row", { name: /Nightly export/ })
          .locator("td")
          .nth(5)
          .textContent(),
      )
      .toBe("0");

    // Create: guard rails are under "More options", closed until asked for.
    await page.getByRole("button", { name: "Create API key" }).click();
    const create = page.getByRole("dialog", { name: "Create API key" });
    await expect.poll(() => create.isVisible()).toBe(true);
    expect(await create.getByLabel("Restrict to IP addresses").isVisible()).toBe(false);
    expect(await create.getByLabel("Requests per period").isVisible()).toBe(false);
    await create.getByLabel("Name").fill("Guarded sync");
    await create.getByRole("checkbox", { name: /Sources Read/ }).check();
    await create.getByText("More options").click();
    await create.getByLabel("Restrict to IP addresses").fill("127.0.0.1\n2001:db8::/32, not-an-address");
    await create.getByLabel("Requests per period").fill("100");
    expect(await create.getByLabel("Period", { exact: true }).inputValue()).toBe("60"); // per minute
    await create.getByRole("button", { name: "Create key" }).click();
    // The API's refusal, next to the field it is about.
    await expect
      .poll(() => create.locator("#create-allowlist-error").textContent())
      .toMatch(/Not an IPv4\/IPv6 address or CIDR: "not-an-addre…"/);
    expect(await create.getByLabel("Restrict to IP addresses").getAttribute("aria-invalid")).toBe("true");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("create-allowlist");
    await create.getByLabel("Restrict to IP addresses").fill("127.0.0.1\n2001:db8::/32");
    await create.getByRole("button", { name: "Create key" }).click();
    const reveal = page.getByRole("dialog", { name: "Your new API key" });
    await expect.poll(() => reveal.isVisible()).toBe(true);
    const key = (await reveal.locator("#secret-value").textContent()) ?? "";
    expect(key).toMatch(KEY_PATTERN);
    await reveal.getByRole("button", { name: "Done" }).click();

    // The table marks the key's guard rails.
    const row = activeTable.getByRole("row", { name: new RegExp(key.slice(0, 12)) });
    await expect.poll(() => row.isVisible()).toBe(true);
    expect(await row.getByText("IP-restricted", { exact: true }).isVisible()).toBe(true);
    expect(await row.getByText("100/min", { exact: true }).isVisible()).toBe(true);
    const created = (await call("GET", "/v1/api-keys?status=active", admin)).body.data.find((k) => k.prefix === key.slice(0, 12));
    expect(created).toMatchObject({ ipAllowlist: ["127.0.0.1/32", "2001:db8::/32"], rateLimit: { limit: 100, periodSeconds: 60 } });

    // A script uses the key from 127.0.0.1, within its limit.
    const used = await fetch(`${base}/v1/key`, { headers: { Authorization: `Bearer ${key}` } });
    expect(used.status).toBe(200);
    expect(used.headers.get("RateLimit-Policy")).toBe('"key";q=100;w=60');
    expect((await call("GET", "/v1/sources", key)).status).toBe(200);
    await usedToday(admin, created.id, 2);

    // The 30-day column, after a Refresh; sorting by it brings the idle key up first, then last; Created puts them back.
    await page.getByRole("button", { name: "Refresh" }).click();
    await expect.poll(() => row.locator("td").nth(5).textContent()).toBe("2");
    const names = () => activeTable.locator("tbody tr td:first-child button").allTextContents();
    expect(await names()).toEqual(["Guarded sync", "Nightly export"]);
    const usageHeader = activeTable.getByRole("columnheader", { name: "30 days" });
    const sortButton = activeTable.getByRole("button", { name: "30 days" });
    await sortButton.click();
    expect(await usageHeader.getAttribute("aria-sort")).toBe("ascending");
    expect(await names()).toEqual(["Nightly export", "Guarded sync"]);
    await sortButton.click();
    expect(await usageHeader.getAttribute("aria-sort")).toBe("descending");
    expect(await names()).toEqual(["Guarded sync", "Nightly export"]);
    await activeTable.getByRole("button", { name: "Created" }).click();
    expect(await usageHeader.getAttribute("aria-sort")).toBeNull();
    expect(await activeTable.getByRole("columnheader", { name: "Created" }).getAttribute("aria-sort")).toBe("descending");

    // The key dialog: guard rails, where it was last used from, and 30 days of requests drawn as SVG bars.
    await row.locator("td").nth(1).click();
    const details = page.getByRole("dialog", { name: "Guarded sync" });
    await expect.poll(() => details.isVisible()).toBe(true);
    await expect.poll(() => details.locator("#usage-summary").textContent()).toBe("2 requests in the last 30 days");
    expect(await details.locator("dd").filter({ hasText: "127.0.0.1/32" }).textContent()).toBe("127.0.0.1/322001:db8::/32");
    expect(await details.getByText("100 requests per minute").isVisible()).toBe(true);
    await expect
      .poll(() => details.locator("dt:text-is('Last used') + dd").textContent())
      .toMatch(/^just now from 127\.0\.0\.1( \([A-Z]{2}\))?$/);
    const bars = details.locator("svg.bars g.day");
    expect(await bars.count()).toBe(30);
    const today = new Date().toISOString().slice(0, 10);
    const todayBar = details.locator(`svg.bars g[data-date="${today}"]`);
    expect(await todayBar.getAttribute("data-requests")).toBe("2");
    expect(Number(await todayBar.locator("rect.bar").getAttribute("height"))).toBeGreaterThan(0);
    expect(await todayBar.locator("title").textContent()).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4}: 2 requests$/);
    expect(await bars.first().locator("title").textContent()).toMatch(/: 0 requests$/);
    expect(await details.locator("svg.bars").getAttribute("role")).toBe("img");
    await page.screenshot({ path: KEY_SCREENSHOT });

    // Edit: name and limit through PATCH; a refused value is shown at its field.
    await keyDialogLoaded(details);
    await details.getByRole("button", { name: "Edit…" }).click();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("edit-name");
    expect(await details.getByLabel("Restrict to IP addresses").inputValue()).toBe("127.0.0.1/32\n2001:db8::/32");
    expect(await details.getByLabel("Requests per period").inputValue()).toBe("100");
    await details.getByLabel("Requests per period").fill("200000");
    await details.getByRole("button", { name: "Save changes" }).click();
    await expect.poll(() => details.locator("#edit-rate-error").textContent()).toMatch(/100000|100,000/);
    expect(await details.getByText(/The changes were not saved/).isVisible()).toBe(true);
    await details.getByLabel("Name", { exact: true }).fill("Guarded sync (EU)");
    await details.getByLabel("Requests per period").fill("50");
    await details.getByLabel("Period", { exact: true }).selectOption("3600");
    await details.getByRole("button", { name: "Save changes" }).click();
    const renamed = page.getByRole("dialog", { name: "Guarded sync (EU)" });
    await expect.poll(() => renamed.getByText("50 requests per hour").isVisible()).toBe(true);
    expect(await renamed.getByRole("button", { name: "Save changes" }).isVisible()).toBe(false);
    expect((await call("GET", `/v1/api-keys/${created.id}`, admin)).body).toMatchObject({
      name: "Guarded sync (EU)",
      rateLimit: { limit: 50, periodSeconds: 3600 },
    });
    expect(await row.getByText("50/h", { exact: true }).isVisible()).toBe(true);

    // Roll with a one-hour overlap: the new key is shown once, like a new key.
    await renamed.getByRole("button", { name: "Roll…" }).click();
    expect(await renamed.getByText("Roll “Guarded sync (EU)”?").isVisible()).toBe(true);
    const overlaps = renamed.getByRole("radio");
    expect(await overlaps.evaluateAll((els) => els.map((el) => el.labels[0].textContent))).toEqual([
      "None: it stops now",
      "1 hour",
      "24 hours",
      "3 days",
      "7 days",
    ]);
    expect(await renamed.getByRole("radio", { name: "24 hours" }).isChecked()).toBe(true);
    expect(await renamed.getByRole("button", { name: "Revoke…" }).isVisible()).toBe(false);
    await renamed.getByRole("radio", { name: "1 hour" }).check();
    await renamed.getByRole("button", { name: "Roll key" }).click();
    await expect.poll(() => reveal.isVisible()).toBe(true);
    const newKey = (await reveal.locator("#secret-value").textContent()) ?? "";
    expect(newKey).toMatch(KEY_PATTERN);
    expect(newKey).not.toBe(key);
    expect(await reveal.getByText(`The new key replaces ${key.slice(0, 12)}…, which keeps working for 1 hour.`).isVisible()).toBe(true);
    await reveal.getByRole("button", { name: "Done" }).click();
    await expect.poll(() => reveal.isVisible()).toBe(false);
    expect(await pageContents(page)).not.toContain(newKey);

    // The old row says when it stops working (the full time on hover); the new one has its guard rails.
    await expect.poll(() => row.getByText(/Rolled · stops working in 1 hour/).isVisible()).toBe(true);
    const stops = row.locator(".badge time");
    expect(Math.abs(Date.parse((await stops.getAttribute("datetime")) ?? "") - (Date.now() + 3_600_000))).toBeLessThan(60_000);
    expect(await stops.getAttribute("title")).toMatch(/UTC/);
    const newRow = activeTable.getByRole("row", { name: new RegExp(newKey.slice(0, 12)) });
    await expect.poll(() => newRow.isVisible()).toBe(true);
    expect(await newRow.getByText("IP-restricted", { exact: true }).isVisible()).toBe(true);
    expect(await newRow.getByText("50/h", { exact: true }).isVisible()).toBe(true);
    // Both work during the overlap.
    expect((await call("GET", "/v1/key", newKey)).body).toMatchObject({ name: "Guarded sync (EU)", workspaceId: ws });
    expect((await call("GET", "/v1/key", key)).status).toBe(200);

    // A rolled key rolls no more.
    await row.locator("td").nth(1).click();
    await expect.poll(() => renamed.isVisible()).toBe(true);
    expect(await renamed.locator("dt:text-is('Rolled') + dd").textContent()).toMatch(/stops working in 1 hour$/);
    expect(await renamed.getByRole("button", { name: "Roll…" }).isVisible()).toBe(false);
    await renamed.getByRole("button", { name: "Close" }).click();

    // The idle key is revoked: the revoked table says by whom.
    await activeTable.getByRole("button", { name: /Nightly export/ }).click();
    const idleDetails = page.getByRole("dialog", { name: "Nightly export" });
    await expect.poll(() => idleDetails.locator("#usage-summary").textContent()).toBe("No requests in the last 30 days");
    expect(await idleDetails.locator("dt:text-is('Last used') + dd").textContent()).toBe("Never");
    await keyDialogLoaded(idleDetails);
    await idleDetails.getByRole("button", { name: "Revoke…" }).click();
    await idleDetails.getByRole("button", { name: "Revoke key" }).click();
    await expect.poll(() => idleDetails.isVisible()).toBe(false);
    const revokedRow = revokedTable.getByRole("row", { name: /Nightly export/ });
    await expect.poll(() => revokedRow.locator("td").nth(6).textContent()).toBe("Revoked by usr_browser_admin");
    expect((await call("GET", "/v1/key", idle.body.key)).status).toBe(401);

    // A key that revoked itself, and one GitHub found in a public repository.
    const selfRevoking = await call("POST", "/v1/api-keys", admin, { name: "Old laptop", scopes: ["sources:read"] });
    expect((await call("POST", "/v1/key/revoke", selfRevoking.body.key)).status).toBe(200);
    const leakUrl = "https://github.com/example/site/blob/3f2a9c1/deploy/.env";
    const leaked = await call("POST", "/v1/api-keys", admin, { name: "CI deploy", scopes: ["sources:read"] });
    const report = await reportLeak([leaked.body.key], leakUrl);
    expect(report.status).toBe(200);
    expect(report.body).toEqual([
      { token_hash: createHash("sha256").update(leaked.body.key).digest("hex"), token_type: "owlish_api_key", label: "true_positive" },
    ]);
    await page.getByRole("button", { name: "Refresh" }).click();
    const selfRow = revokedTable.getByRole("row", { name: /Old laptop/ });
    await expect.poll(() => selfRow.locator("td").nth(6).textContent()).toBe("Revoked by itself");
    const leakedRow = revokedTable.getByRole("row", { name: /CI deploy/ });
    await expect.poll(() => leakedRow.locator("td").nth(6).textContent()).toBe(`Leaked: found at ${leakUrl}`);
    // One audit lookup, for the leaked key only.
    expect(requests.filter((u) => u.includes("/v1/audit-events"))).toEqual([`${base}/v1/audit-events?keyId=${leaked.body.id}`]);

    await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
    expect(violations).toEqual([]);
    await page.close();
  }, 180_000);

  it("shows where a leaked key was found as text to copy, never as a link or markup", async () => {
    const admin = token(newWorkspace());
    const leaked = await call("POST", "/v1/api-keys", admin, { name: "Pasted in a gist", scopes: ["sources:read"] });
    const url = 'https://gist.github.com/x/1#"><a href="https://evil.example">click</a><img src=x onerror=alert(1)>';
    expect((await reportLeak([leaked.body.key], url)).status).toBe(200);

    const { page, errors } = await openConsole(admin);
    const row = page.getByRole("table", { name: "Revoked keys" }).getByRole("row", { name: /Pasted in a gist/ });
    await expect.poll(() => row.locator(".url").textContent()).toBe(url);
    expect(await row.locator("td").nth(6).textContent()).toBe(`Leaked: found at ${url}`);
    expect(await page.locator("a, img").count()).toBe(0);
    // Clicking the URL (to select it) does not open the key; the name still does, and the dialog shows it the same way.
    await row.locator(".url").click();
    expect(await page.getByRole("dialog").count()).toBe(0);
    await row.getByRole("button", { name: /Pasted in a gist/ }).click();
    const details = page.getByRole("dialog", { name: "Pasted in a gist" });
    await expect.poll(() => details.locator("dt:text-is('Reason') + dd").textContent()).toBe(`Leaked: found at ${url}`);
    expect(await details.locator("a, img").count()).toBe(0);
    expect(await details.getByRole("button", { name: "Edit…" }).isVisible()).toBe(false);
    expect(await details.getByRole("button", { name: "Roll…" }).isVisible()).toBe(false);
    expect(await details.getByRole("button", { name: "Revoke…" }).isVisible()).toBe(false);
    expect(errors).toEqual([]);
    await page.close();
  });
});
