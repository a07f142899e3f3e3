// The console's tables as people see them: whole times, the sorted column
// marked, keys that stopped working marked and listed last, and nothing cut
// off at a phone's width (390 px) or on a desktop. Screenshots for a person to
// look at go to test-results/.

import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { launch, skipBrowser, skipReason } from "./chromium.mjs";
import {
  answerLists,
  base,
  call,
  findClipping,
  keyDialogLoaded,
  keyRecord,
  newWorkspace,
  reportLeak,
  sessionToken,
} from "./console-helpers.mjs";

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 860 };

describe.skipIf(skipBrowser)(skipBrowser ? `console layout (${skipReason})` : "console layout", () => {
  /** @type {Awaited<ReturnType<typeof launch>>} */ let browser;

  beforeAll(async () => {
    browser = await launch();
    mkdirSync("test-results", { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** A new page at `viewport`, not signed in yet (signIn sets the fragment) so that routes can be set first. */
  async function newPage(viewport = DESKTOP, context = browser.context) {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.setViewportSize(viewport);
    await page.goto(`${base()}/console`);
    return { page, errors };
  }
  const signIn = (page, token) => page.evaluate((t) => (location.hash = `token=${t}`), token);

  /** The ids of a table's key rows, top to bottom. */
  const rowIds = (page, table) => page.locator(`#${table}-table tr[data-key-id]`).evaluateAll((rows) => rows.map((r) => r.dataset.keyId));

  it("the revoked keys table shows whole times, from a desktop down to a narrow window", async () => {
    const { page, errors } = await newPage();
    const now = Date.now();
    const ago = (ms) => new Date(now - ms).toISOString();
    const revoked = [
      keyRecord({
        id: "key_r1",
        name: "Quarterly finance export to the data warehouse",
        lastUsedAt: ago(3 * 60_000 + 5_000),
        createdAt: ago(330 * 86_400_000),
        revokedAt: ago(3 * 60_000),
        revokedBy: "usr_0123456789abcdef",
        revocationReason: "admin",
        scopes: ["sources:read", "sources:write", "sources:delete"],
      }),
      keyRecord({ id: "key_r2", name: "Old laptop", lastUsedAt: ago(40 * 60_000), revokedAt: ago(12 * 60_000), revocationReason: "self" }),
    ];
    await answerLists(page, { revoked });
    await signIn(page, sessionToken(newWorkspace()));
    const table = page.getByRole("table", { name: "Revoked keys" });
    const row = table.getByRole("row", { name: /Quarterly finance/ });
    await expect.poll(() => row.locator("td").nth(3).textContent()).toBe("3 minutes ago");
    expect(await row.locator("td").nth(4).textContent()).toBe("11 months ago");
    expect(await row.locator("td").nth(5).textContent()).toBe("3 minutes ago");

    // Each cell holds all of its text (no ellipsis, nothing hidden past its edge); a window too narrow
    // for the whole table scrolls the table's wrapper, never cuts a cell.
    for (const width of [1280, 1024, 900, 800]) {
      await page.setViewportSize({ width, height: 800 });
      const cut = await table
        .locator("td, th")
        .evaluateAll((cells) =>
          cells.filter((c) => c.scrollWidth > c.clientWidth || c.scrollHeight > c.clientHeight).map((c) => c.textContent),
        );
      expect(cut, `${width} px`).toEqual([]);
      expect(await page.evaluate(findClipping, ".table-wrap"), `${width} px`).toEqual([]);
    }
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: "test-results/console-revoked-times.png", fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("marks the column each table is sorted by, on screen and with aria-sort", async () => {
    const { page, errors } = await newPage();
    const ago = (days) => new Date(Date.now() - days * 86_400_000).toISOString();
    const active = [
      keyRecord({ id: "key_new", name: "Newest", createdAt: ago(1) }),
      keyRecord({ id: "key_mid", name: "Middle", createdAt: ago(5) }),
      keyRecord({ id: "key_old", name: "Oldest", createdAt: ago(9) }),
    ];
    const revoked = [keyRecord({ id: "key_gone", name: "Gone", revokedAt: ago(1), revocationReason: "self" })];
    await answerLists(page, { active, revoked });
    await page.route("**/v1/key-usage*", (route) =>
      route.fulfill({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({
          data: [
            { keyId: "key_old", requests: 900 },
            { keyId: "key_new", requests: 40 },
          ],
          days: 30,
        }),
      }),
    );
    await signIn(page, sessionToken(newWorkspace()));
    await expect.poll(() => page.locator("#active-table td.usage").first().textContent()).not.toBe("–");

    /** Per header of a table: its text, its aria-sort, and the marker drawn after its label. */
    const headers = (table) =>
      page.locator(`#${table}-table thead th`).evaluateAll((ths) =>
        ths.map((th) => {
          const label = th.querySelector(".sort");
          return {
            text: th.textContent.trim(),
            sort: th.getAttribute("aria-sort"),
            marker: label ? getComputedStyle(label, "::after").content : "none",
          };
        }),
      );
    /** The one header a table is sorted by: aria-sort other than none, exactly once, and ▲ or ▼ on screen. */
    const sortedBy = async (table) => {
      const all = await headers(table);
      const sorted = all.filter((h) => h.sort && h.sort !== "none");
      expect(sorted, table).toHaveLength(1);
      const [header] = sorted;
      expect(header.marker, `${table}: ${header.text}`).toContain(header.sort === "ascending" ? "▲" : "▼");
      // No other header shows a direction.
      for (const other of all.filter((h) => h !== header)) expect(other.marker, other.text).not.toMatch(/[▲▼]/);
      return `${header.text} ${header.sort}`;
    };

    // As listed: newest first, so Created is the sorted column; revoked keys newest revocation first.
    expect(await sortedBy("active")).toBe("Created descending");
    expect(await sortedBy("revoked")).toBe("Revoked descending");
    expect(await rowIds(page, "active")).toEqual(["key_new", "key_mid", "key_old"]);

    const byUsage = page.getByRole("button", { name: "30 days" });
    const byCreated = page.getByRole("button", { name: "Created" });
    await byUsage.click();
    expect(await sortedBy("active")).toBe("30 days ascending");
    expect(await rowIds(page, "active")).toEqual(["key_mid", "key_new", "key_old"]);
    await byUsage.click();
    expect(await sortedBy("active")).toBe("30 days descending");
    expect(await rowIds(page, "active")).toEqual(["key_old", "key_new", "key_mid"]);
    await byCreated.click();
    expect(await sortedBy("active")).toBe("Created descending");
    expect(await rowIds(page, "active")).toEqual(["key_new", "key_mid", "key_old"]);
    await byCreated.click();
    expect(await sortedBy("active")).toBe("Created ascending");
    expect(await rowIds(page, "active")).toEqual(["key_old", "key_mid", "key_new"]);
    // Sorting keeps focus on the header's button, for the next press.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Created");

    await page.screenshot({ path: "test-results/console-sorted.png" });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("marks rolled keys whose overlap ended and expired keys as stopped, and lists them after the working keys", async () => {
    const admin = sessionToken(newWorkspace());
    const create = async (name, extra = {}) => {
      const created = await call("POST", "/v1/api-keys", admin, { name, scopes: ["sources:read"], ...extra });
      expect(created.status).toBe(201);
      return created.body;
    };
    const roll = async (key, overlapSeconds) => {
      const rolled = await call("POST", `/v1/api-keys/${key.id}/roll`, admin, { overlapSeconds });
      expect(rolled.status).toBe(201);
      return rolled.body;
    };
    // Oldest first: the list shows them newest first.
    const ci = await create("CI deploy");
    const ciNew = await roll(ci, 0); // the old key stopped at once
    const trial = await create("Partner trial", { expiresAt: new Date(Date.now() + 60_000).toISOString() });
    const sync = await create("Docs sync");
    const syncNew = await roll(sync, 120); // the old key works two more minutes
    const zapier = await create("Zapier import");

    // The page runs on Playwright's clock, moved on below past the trial's expiry and the overlap's end.
    // (A clock is the whole context's: this test has a browser of its own.)
    const own = await launch();
    onTestFinished(() => own.close());
    await own.context.clock.install();
    const { page, errors } = await newPage(DESKTOP, own.context);
    await signIn(page, admin);
    const stoppedRows = page.locator("#active-table tr.stopped");
    await expect.poll(() => rowIds(page, "active")).toEqual([zapier.id, syncNew.id, sync.id, trial.id, ciNew.id, ci.id]);

    // The rolled key whose overlap ended is marked stopped, under a heading for the stopped keys.
    expect(await stoppedRows.evaluateAll((rows) => rows.map((r) => r.dataset.keyId))).toEqual([ci.id]);
    const stoppedCi = page.locator(`tr[data-key-id="${ci.id}"]`);
    expect(await stoppedCi.locator(".badge").first().textContent()).toMatch(/^Stopped · rolled, overlap ended/);
    const group = page.getByRole("rowheader", { name: /^Stopped working/ });
    expect(await group.isVisible()).toBe(true);
    expect(await group.getAttribute("scope")).toBe("rowgroup");
    // The working ones say when they will stop.
    expect(await page.locator(`tr[data-key-id="${sync.id}"] .badge`).first().textContent()).toBe("Rolled · stops working in 2 minutes");
    expect(await page.locator(`tr[data-key-id="${trial.id}"] .badge`).first().textContent()).toBe("Expires in 1 minute");

    // Time passes with the page open: the trial expires, then the overlap ends, and each key moves down without a reload.
    await page.clock.fastForward("01:05");
    await expect.poll(() => rowIds(page, "active")).toEqual([zapier.id, syncNew.id, sync.id, ciNew.id, trial.id, ci.id]);
    expect(await page.locator(`tr[data-key-id="${trial.id}"] .badge`).first().textContent()).toMatch(/^Stopped · expired/);
    await page.clock.fastForward("01:00");
    await expect.poll(() => rowIds(page, "active")).toEqual([zapier.id, syncNew.id, ciNew.id, sync.id, trial.id, ci.id]);
    expect(await stoppedRows.evaluateAll((rows) => rows.map((r) => r.dataset.keyId))).toEqual([sync.id, trial.id, ci.id]);
    expect(await page.locator(`tr[data-key-id="${sync.id}"] .badge`).first().textContent()).toMatch(/^Stopped · rolled, overlap ended/);

    // Sorting by use sorts each group; the stopped keys stay after the working ones.
    await page.getByRole("button", { name: "30 days" }).click();
    const ids = await rowIds(page, "active");
    expect(ids.slice(0, 3).sort()).toEqual([zapier.id, syncNew.id, ciNew.id].sort());
    expect(ids.slice(3).sort()).toEqual([sync.id, trial.id, ci.id].sort());

    await page.screenshot({ path: "test-results/console-stopped.png", fullPage: true });
    expect(errors).toEqual([]);
  });

  /** A workspace with every kind of row: used, idle, guarded, rolled (working and stopped), expired, revoked three ways. */
  async function livedInWorkspace() {
    const admin = sessionToken(newWorkspace(), "admin", "usr_ada");
    const create = async (name, extra = {}) =>
      (await call("POST", "/v1/api-keys", admin, { name, scopes: ["sources:read"], ...extra })).body;
    const expiresAt = Date.now() + 2_000;
    await create("Billing webhook (trial)", { expiresAt: new Date(expiresAt).toISOString(), scopes: ["sources:read", "sources:write"] });
    const oldCi = await create("Release pipeline");
    await call("POST", `/v1/api-keys/${oldCi.id}/roll`, admin, { overlapSeconds: 0 });
    await create("Nightly export");
    const zapier = await create("Zapier import", {
      ipAllowlist: ["127.0.0.1", "2001:db8::/32"],
      rateLimit: { limit: 100, periodSeconds: 60 },
    });
    const warehouse = await create("Guarded sync for the EU data warehouse, with a long name", {
      scopes: ["sources:read", "sources:write", "sources:delete"],
    });
    await call("POST", `/v1/api-keys/${warehouse.id}/roll`, admin, { overlapSeconds: 3_600 });
    const docs = await create("Docs sync", { scopes: ["sources:read", "sources:write"] });
    await call("GET", "/v1/sources", docs.key);
    await call("GET", "/v1/sources", zapier.key);
    const laptop = await create("Old laptop");
    await call("POST", "/v1/key/revoke", laptop.key);
    const intern = await create("Intern script");
    await call("GET", "/v1/sources", intern.key);
    await call("POST", `/v1/api-keys/${intern.id}/revoke`, admin);
    const leaked = await create("CI deploy");
    expect((await reportLeak([leaked.key], "https://github.com/example/site/blob/3f2a9c1/deploy/.env")).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 100)));
    return { admin, zapier };
  }

  /** Opens the console on that workspace at `viewport`, once both tables and the 30-day totals are in. */
  async function openLivedIn(admin, viewport) {
    const { page, errors } = await newPage(viewport);
    await signIn(page, admin);
    await expect.poll(() => page.locator("#revoked-table tr[data-key-id]").count()).toBe(3);
    await expect.poll(() => page.locator("#revoked-table .url").count()).toBe(1);
    await expect.poll(() => page.locator("#active-table td.usage").first().textContent()).not.toBe("–");
    return { page, errors };
  }

  it("at 390 px wide nothing is cut off: the tables stack, the dialogs fit; a desktop shows whole tables", async () => {
    const { admin } = await livedInWorkspace();

    const { page, errors } = await openLivedIn(admin, PHONE);
    // Nothing scrolls sideways at this width, not even a table's wrapper.
    expect(await page.evaluate(findClipping)).toEqual([]);
    await page.screenshot({ path: "test-results/console-390.png", fullPage: true });
    // Stacked, the tables are still tables to assistive tech (as Chromium exposes them): rows, column headers, cells.
    const cdp = await page.context().newCDPSession(page);
    const { nodes } = await cdp.send("Accessibility.getFullAXTree");
    const roles = nodes.filter((n) => !n.ignored).map((n) => n.role?.value);
    const count = (role) => roles.filter((r) => r === role).length;
    expect(count("table")).toBe(2);
    expect(count("columnheader")).toBe(6 + 7);
    expect(count("cell")).toBeGreaterThanOrEqual(8 * 6 + 3 * 7);
    await cdp.detach();

    // The key dialog, with its chart and its four actions.
    await page.getByRole("button", { name: /^Zapier import/ }).click();
    const details = page.getByRole("dialog", { name: "Zapier import" });
    await expect.poll(() => details.locator("#usage-summary").textContent()).toMatch(/in the last 30 days$/);
    await keyDialogLoaded(details);
    expect(await page.evaluate(findClipping)).toEqual([]);
    await page.screenshot({ path: "test-results/console-390-key.png" });
    // Its roll confirmation.
    await details.getByRole("button", { name: "Roll…" }).click();
    expect(await page.evaluate(findClipping)).toEqual([]);
    await details.getByRole("button", { name: "Cancel" }).click();
    await page.keyboard.press("Escape");

    // The create dialog, with its guard rails open, then the new key shown once.
    await page.getByRole("button", { name: "Create API key" }).click();
    const create = page.getByRole("dialog", { name: "Create API key" });
    await create.getByText("More options").click();
    expect(await page.evaluate(findClipping)).toEqual([]);
    await page.screenshot({ path: "test-results/console-390-create.png" });
    await create.getByRole("textbox", { name: "Name" }).fill("Phone test");
    await create.getByRole("checkbox", { name: /Sources Read/ }).check();
    await create.getByRole("button", { name: "Create key" }).click();
    const reveal = page.getByRole("dialog", { name: "Your new API key" });
    await expect.poll(() => reveal.isVisible()).toBe(true);
    expect(await page.evaluate(findClipping)).toEqual([]);
    await reveal.getByRole("button", { name: "Done" }).click();
    expect(errors).toEqual([]);
    await page.close();

    // Signed out: the sign-in form.
    const signedOut = await newPage(PHONE);
    await expect.poll(() => signedOut.page.getByLabel("Session token").isVisible()).toBe(true);
    expect(await signedOut.page.evaluate(findClipping)).toEqual([]);
    await signedOut.page.close();

    // A desktop: the same page as whole tables, nothing cut off and nothing scrolling.
    const desktop = await openLivedIn(admin, DESKTOP);
    expect(await desktop.page.evaluate(findClipping)).toEqual([]);
    await desktop.page.screenshot({ path: "test-results/console-desktop.png", fullPage: true });
    expect(desktop.errors).toEqual([]);
    await desktop.page.close();
  }, 120_000);
});
