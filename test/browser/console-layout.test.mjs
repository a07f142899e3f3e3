// The console's tables as people see them: whole times, from a desktop down
// to a narrow window. Screenshots for a person to look at go to test-results/.

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
});
