// The console and the workspace's key policy, in a real browser against the
// real worker: the Key policy page (a review of the keys that would not
// comply before anything is saved, then save), and what the create, edit and
// roll dialogs say the policy requires.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, skipBrowser, skipReason } from "./chromium.mjs";
import { answerLists, base, call, findClipping, keyDialogLoaded, keyRecord, newWorkspace, sessionToken } from "./console-helpers.mjs";

const DAY = 86_400_000;
const OFF = { maxLifetimeDays: null, requireIpAllowlist: false, idleRevokeDays: null };

describe.skipIf(skipBrowser)(skipBrowser ? `console key policy (${skipReason})` : "console key policy", () => {
  /** @type {Awaited<ReturnType<typeof launch>>} */ let browser;

  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** The console signed in as `admin`; records the API calls the page makes (method and path). */
  async function openConsole(admin) {
    const page = await browser.context.newPage();
    const errors = [];
    const calls = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith("/v1/")) calls.push(`${r.method()} ${url.pathname}${url.search}`);
    });
    await page.goto(`${base()}/console#token=${admin}`);
    await expect.poll(() => page.getByRole("heading", { name: "Active keys" }).isVisible()).toBe(true);
    return { page, errors, calls };
  }

  const setPolicy = async (admin, policy) => expect((await call("PUT", "/v1/key-policy", admin, { ...OFF, ...policy })).status).toBe(200);
  const createKey = async (admin, body) => {
    const res = await call("POST", "/v1/api-keys", admin, { scopes: ["sources:read"], ...body });
    expect(res.status).toBe(201);
    return res.body;
  };
  /** The local date `ms` falls on, as a date input's value. */
  const localDate = (page, ms) =>
    page.evaluate((t) => {
      const d = new Date(t);
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    }, ms);

  it("the Key policy page reviews the keys that would not comply, saving nothing, then saves", async () => {
    const admin = sessionToken(newWorkspace());
    const forever = await createKey(admin, { name: "Forever key" });
    await createKey(admin, {
      name: "Fenced key",
      ipAllowlist: ["203.0.113.0/24"],
      expiresAt: new Date(Date.now() + 10 * DAY).toISOString(),
    });
    const { page, errors, calls } = await openConsole(admin);

    await page.getByRole("button", { name: "Key policy" }).click();
    const heading = page.getByRole("heading", { name: "Key policy", level: 1 });
    await expect.poll(() => heading.isVisible()).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("policy-title");
    expect(await page.getByRole("button", { name: "Key policy" }).getAttribute("aria-current")).toBe("page");
    expect(await page.title()).toBe("Key policy · owlish console");
    expect(await page.getByRole("heading", { name: "Active keys" }).isVisible()).toBe(false);
    await expect.poll(() => page.getByText("No policy has been set: every rule is off.").isVisible()).toBe(true);
    expect(await page.getByLabel("Maximum lifetime in days").isDisabled()).toBe(true);

    await page.getByLabel("Keys expire within").check();
    await page.getByLabel("Maximum lifetime in days").fill("400");
    await page.getByRole("button", { name: "Review changes…" }).click();
    await expect.poll(() => page.locator("#policy-lifetime-error").textContent()).toBe("Enter a whole number of days from 1 to 366.");
    await page.getByLabel("Maximum lifetime in days").fill("30");
    await page.getByLabel("Require an IP allowlist on every key").check();
    await page.getByRole("button", { name: "Review changes…" }).click();

    const check = page.getByRole("region", { name: "Keys that would not comply" });
    await expect.poll(() => check.isVisible()).toBe(true);
    const rows = check.getByRole("row");
    await expect.poll(() => rows.count()).toBe(3); // the header and Forever key twice
    expect(await check.getByRole("row", { name: /Maximum lifetime/ }).textContent()).toMatch(
      /^Forever key .*Never expires; the policy allows keys of at most 30 days\.$/,
    );
    expect(await check.getByRole("row", { name: /IP allowlist/ }).textContent()).toMatch(/^Forever key .*No IP allowlist/);
    expect(await check.getByText("Fenced key").count()).toBe(0);
    expect(await check.locator("#policy-check-summary").textContent()).toMatch(/^1 working key would not comply .* They keep working/);
    expect(calls.filter((c) => c.startsWith("PUT"))).toEqual(["PUT /v1/key-policy?dryRun=true"]);
    // Nothing saved yet.
    expect((await call("GET", "/v1/key-policy", admin)).body).toMatchObject(OFF);

    // A listed key opens its dialog.
    await check
      .getByRole("row", { name: /Maximum lifetime/ })
      .getByRole("button", { name: "Forever key" })
      .click();
    const dialog = page.getByRole("dialog", { name: "Forever key" });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByRole("button", { name: "Close" }).click();

    // Changing a rule drops the review: what is saved is what was reviewed.
    await page.getByLabel("Maximum lifetime in days").fill("31");
    await expect.poll(() => check.isVisible()).toBe(false);
    await page.getByRole("button", { name: "Review changes…" }).click();
    await expect.poll(() => check.isVisible()).toBe(true);
    await page.getByRole("button", { name: "Save policy" }).click();
    await expect
      .poll(() => page.locator("#policy-notice").textContent())
      .toBe("Key policy saved. 1 working key does not comply; it keeps working.");
    expect(await check.isVisible()).toBe(false);
    expect(await page.getByText(/^Last saved just now by usr_browser_admin\.$/).isVisible()).toBe(true);
    expect((await call("GET", "/v1/key-policy", admin)).body).toMatchObject({
      maxLifetimeDays: 31,
      requireIpAllowlist: true,
      idleRevokeDays: null,
    });
    const events = (await call("GET", "/v1/audit-events", admin)).body.data.filter((e) => e.action === "key_policy.updated");
    expect(events).toHaveLength(1);
    // The key made before the policy still works.
    expect((await call("GET", "/v1/key", forever.key)).status).toBe(200);

    // Idle: saved, the page says from when it may revoke.
    await page.getByLabel("Revoke keys unused for").check();
    await page.getByLabel("Days unused before a key is revoked").fill("7");
    await page.getByRole("button", { name: "Review changes…" }).click();
    await expect
      .poll(() => check.locator("#policy-check-summary").textContent())
      .toBe(
        "1 working key would not comply (maximum lifetime: 1, no IP allowlist: 1). They keep working: the policy binds keys as they are created, rolled or edited.",
      );
    await page.getByRole("button", { name: "Save policy" }).click();
    const from = await page.evaluate(
      (t) => new Date(t).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" }),
      Date.now() + 7 * DAY,
    );
    await expect
      .poll(() => page.locator("#policy-saved").textContent())
      .toBe(`Last saved just now by usr_browser_admin. The idle rule revokes no key before ${from}.`);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the create dialog says what the policy requires: the expiry picker stops at the maximum, and an allowlist is required", async () => {
    const admin = sessionToken(newWorkspace());
    await setPolicy(admin, { maxLifetimeDays: 30, requireIpAllowlist: true });
    const { page, errors, calls } = await openConsole(admin);
    await page.getByRole("button", { name: "Create API key" }).click();
    const create = page.getByRole("dialog", { name: "Create API key" });
    await expect
      .poll(() => create.locator("#create-policy").textContent())
      .toMatch(
        /^Your workspace's key policy: keys expire within 30 days \(this one by .* at the latest\); every key needs an IP allowlist\./,
      );
    // More options is open, to show what is required.
    expect(await create.getByLabel("Restrict to IP addresses").isVisible()).toBe(true);
    expect(await create.getByText("Required by your workspace's key policy: at least one address or range.").isVisible()).toBe(true);
    const expires = create.getByLabel("Expires on");
    const latest = await localDate(page, Date.now() + 30 * DAY - 60_000);
    expect(await expires.getAttribute("max")).toBe(latest);
    expect(await create.locator("#create-expires-hint").textContent()).toMatch(
      /^At most 30 days from today .* Leave empty for the longest allowed\.$/,
    );

    await create.getByLabel("Name").fill("Policed key");
    await create.getByRole("checkbox", { name: /Sources Read/ }).check();
    await create.getByRole("button", { name: "Create key" }).click();
    await expect.poll(() => create.locator("#create-allowlist-error").textContent()).toMatch(/requires an IP allowlist/);
    await create.getByLabel("Restrict to IP addresses").fill("127.0.0.1");
    await expires.fill(await localDate(page, Date.now() + 40 * DAY));
    await create.getByRole("button", { name: "Create key" }).click();
    await expect.poll(() => create.locator("#create-expires-error").textContent()).toMatch(/allows at most 30 days: pick .* or earlier\./);
    expect(calls.filter((c) => c.startsWith("POST"))).toEqual([]);

    // Left empty: the longest allowed, which the API fills in.
    await expires.fill("");
    await create.getByRole("button", { name: "Create key" }).click();
    const reveal = page.getByRole("dialog", { name: "Your new API key" });
    await expect.poll(() => reveal.isVisible()).toBe(true);
    await reveal.getByRole("button", { name: "Done" }).click();
    const made = (await call("GET", "/v1/api-keys", admin)).body.data.find((k) => k.name === "Policed key");
    expect(Math.abs(Date.parse(made.expiresAt) - Date.parse(made.createdAt) - 30 * DAY)).toBe(0);

    // A day within the limit: the key stops at the end of it.
    await page.getByRole("button", { name: "Create API key" }).click();
    await create.getByLabel("Name").fill("Short key");
    await create.getByRole("checkbox", { name: /Sources Read/ }).check();
    await create.getByLabel("Restrict to IP addresses").fill("127.0.0.1");
    const day = await localDate(page, Date.now() + 5 * DAY);
    await expires.fill(day);
    await create.getByRole("button", { name: "Create key" }).click();
    await expect.poll(() => reveal.isVisible()).toBe(true);
    await reveal.getByRole("button", { name: "Done" }).click();
    const short = (await call("GET", "/v1/api-keys", admin)).body.data.find((k) => k.name === "Short key");
    expect(await page.evaluate((iso) => new Date(iso).toTimeString().slice(0, 8), short.expiresAt)).toBe("23:59:59");
    expect(await localDate(page, Date.parse(short.expiresAt))).toBe(day);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a policy set while the dialog was open: the API's refusal is shown at the field, and the dialog catches up", async () => {
    const admin = sessionToken(newWorkspace());
    const { page } = await openConsole(admin);
    await page.getByRole("button", { name: "Create API key" }).click();
    const create = page.getByRole("dialog", { name: "Create API key" });
    await expect.poll(() => create.isVisible()).toBe(true);
    expect(await create.locator("#create-policy").isVisible()).toBe(false);
    await setPolicy(admin, { requireIpAllowlist: true }); // another admin, meanwhile
    await create.getByLabel("Name").fill("Late key");
    await create.getByRole("checkbox", { name: /Sources Read/ }).check();
    await create.getByRole("button", { name: "Create key" }).click();
    await expect
      .poll(() => create.locator("#create-allowlist-error").textContent())
      .toMatch(/\(requireIpAllowlist\) requires an IP allowlist/);
    expect(await create.getByText(/The key was not created/).isVisible()).toBe(true);
    await expect.poll(() => create.locator("#create-policy").textContent()).toMatch(/every key needs an IP allowlist/);
    await page.close();
  });

  it("edit and roll: an allowlist cannot be emptied, and a key without one cannot be rolled until it has one", async () => {
    const admin = sessionToken(newWorkspace());
    const open = await createKey(admin, { name: "Open key" });
    const fenced = await createKey(admin, { name: "Fenced key", ipAllowlist: ["203.0.113.0/24"] });
    await setPolicy(admin, { requireIpAllowlist: true, maxLifetimeDays: 90 });
    const { page, calls } = await openConsole(admin);
    const table = page.locator("#active-table");

    // The key made before the policy, without an allowlist: no roll until it has one.
    await table.getByRole("button", { name: "Open key" }).click();
    const dialog = page.getByRole("dialog", { name: "Open key" });
    await keyDialogLoaded(dialog);
    await dialog.getByRole("button", { name: "Roll…" }).click();
    await expect
      .poll(() => dialog.locator("#roll-policy").textContent())
      .toMatch(/has none for its new key to inherit\. Edit the key to add one, then roll it\./);
    expect(await dialog.getByRole("button", { name: "Roll key" }).isDisabled()).toBe(true);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    // It can be renamed as it is.
    await dialog.getByRole("button", { name: "Edit…" }).click();
    expect(await dialog.locator("#edit-policy").textContent()).toMatch(
      /This key was made without one: it keeps working, but it can't be rolled/,
    );
    await dialog.getByLabel("Name", { exact: true }).fill("Open key (old)");
    await dialog.getByRole("button", { name: "Save changes" }).click();
    await expect.poll(async () => (await call("GET", `/v1/api-keys/${open.id}`, admin)).body.name).toBe("Open key (old)");
    await page.getByRole("dialog", { name: "Open key (old)" }).getByRole("button", { name: "Close" }).click();

    // A key with an allowlist: emptying it is refused at the field, nothing sent.
    await table.getByRole("button", { name: "Fenced key" }).click();
    const fencedDialog = page.getByRole("dialog", { name: "Fenced key" });
    await keyDialogLoaded(fencedDialog);
    await fencedDialog.getByRole("button", { name: "Edit…" }).click();
    expect(await fencedDialog.getByText("Required by your workspace's key policy: at least one address or range.").isVisible()).toBe(true);
    await fencedDialog.getByLabel("Restrict to IP addresses").fill("");
    await fencedDialog.getByRole("button", { name: "Save changes" }).click();
    await expect.poll(() => fencedDialog.locator("#edit-allowlist-error").textContent()).toMatch(/requires an IP allowlist/);
    expect(calls.filter((c) => c.startsWith("PATCH") && c.includes(fenced.id))).toEqual([]);
    await fencedDialog.getByRole("button", { name: "Cancel" }).click();
    // Its roll says when the new key will expire.
    await fencedDialog.getByRole("button", { name: "Roll…" }).click();
    await expect
      .poll(() => fencedDialog.locator("#roll-policy").textContent())
      .toMatch(/^Your workspace's key policy: the new key expires on .*, 90 days from now\.$/);
    await fencedDialog.getByRole("button", { name: "Roll key" }).click();
    const reveal = page.getByRole("dialog", { name: "Your new API key" });
    await expect.poll(() => reveal.isVisible()).toBe(true);
    const successor = (await call("GET", "/v1/api-keys", admin)).body.data.find((k) => k.rolledFrom === fenced.id);
    expect(Date.parse(successor.expiresAt) - Date.parse(successor.createdAt)).toBe(90 * DAY);
    await page.close();
  });

  it("a review that finds idle keys says they will be revoked after their warning unless used", async () => {
    const admin = sessionToken(newWorkspace());
    const { page } = await openConsole(admin);
    const idle = (name, id) => ({
      keyId: id,
      rule: "idleRevokeDays",
      name,
      prefix: "sk_live_AbCd",
      message: "Unused since 2026-01-05 (60 days): warned now and revoked as idle from 2026-03-13 unless it is used before.",
    });
    // A real workspace has no key unused for weeks yet: the dry run's answer is the page's to show.
    await page.route("**/v1/key-policy?dryRun=true", (route) =>
      route.fulfill({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({
          policy: { ...OFF, idleRevokeDays: 30, idleRevocationsFrom: null, updatedAt: null, updatedBy: null },
          saved: false,
          violations: [idle("Old cron", "key_a"), idle("Forgotten script", "key_b")],
          violationsTruncated: true,
        }),
      }),
    );
    await page.getByRole("button", { name: "Key policy" }).click();
    await page.getByLabel("Revoke keys unused for").check();
    await page.getByLabel("Days unused before a key is revoked").fill("30");
    await page.getByRole("button", { name: "Review changes…" }).click();
    const check = page.getByRole("region", { name: "Keys that would not comply" });
    await expect.poll(() => check.getByRole("row", { name: /Idle/ }).count()).toBe(2);
    expect(await check.locator("#policy-check-summary").textContent()).toBe(
      "2 working keys would not comply (idle: 2). They keep working: the policy binds keys as they are created, rolled or edited. " +
        "Except idle keys: each is announced now and revoked 7 days later unless it is used before. Check that none of them is still needed.",
    );
    expect(await check.getByText("More keys break a rule than are listed: the first 500 of each rule are shown.").isVisible()).toBe(true);
    await page.close();
  });

  it("at 390 px wide nothing of the Policy page, its review or the create dialog's policy is cut off", async () => {
    const admin = sessionToken(newWorkspace());
    await createKey(admin, { name: "Quarterly finance export to the data warehouse, nightly" });
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base()}/console#token=${admin}`);
    await page.getByRole("button", { name: "Key policy" }).click();
    await page.getByLabel("Keys expire within").check();
    await page.getByLabel("Require an IP allowlist on every key").check();
    await page.getByLabel("Revoke keys unused for").check();
    await page.getByRole("button", { name: "Review changes…" }).click();
    await expect.poll(() => page.getByRole("region", { name: "Keys that would not comply" }).getByRole("row").count()).toBe(3);
    expect(await page.evaluate(findClipping)).toEqual([]);
    await setPolicy(admin, { maxLifetimeDays: 90, requireIpAllowlist: true });
    await page.getByRole("button", { name: "API keys" }).click();
    await page.getByRole("button", { name: "Create API key" }).click();
    await expect.poll(() => page.locator("#create-policy").isVisible()).toBe(true);
    await expect.poll(() => page.evaluate(findClipping)).toEqual([]);
    await page.close();
  });

  it("a key revoked as idle says so in the revoked list", async () => {
    const admin = sessionToken(newWorkspace());
    const page = await browser.context.newPage();
    const now = Date.now();
    await answerLists(page, {
      revoked: [
        keyRecord({
          id: "key_idle",
          name: "Forgotten cron",
          revokedAt: new Date(now - 3600_000).toISOString(),
          revokedBy: "policy",
          revocationReason: "idle",
        }),
      ],
    });
    await page.goto(`${base()}/console#token=${admin}`);
    const row = page.locator("#revoked-table").getByRole("row", { name: /Forgotten cron/ });
    await expect.poll(() => row.isVisible()).toBe(true);
    expect(await row.getByText("Idle: revoked by the key policy").isVisible()).toBe(true);
    await page.close();
  });
});
