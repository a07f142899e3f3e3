// The console's tables as people see them: whole times, and the sorted column
// marked. Screenshots for a person to look at go to test-results/.

import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, skipBrowser, skipReason } from "./chromium.mjs";
import { answerLists, base, findClipping, keyRecord, newWorkspace, sessionToken } from "./console-helpers.mjs";

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
  async function newPage(viewport = DESKTOP) {
    const page = await browser.context.newPage();
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
});
