// The console's Webhooks page and the keys page's "Needs attention" strip, in
// a real browser, against the real worker under wrangler dev (its queue
// consumer and all), with a receiver listening on this machine.

import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, skipBrowser, skipReason } from "./chromium.mjs";
import { base, call, findClipping, keyRecord, newWorkspace, sessionToken } from "./console-helpers.mjs";

/** A webhook receiver on 127.0.0.1: records each request (headers, raw body), answers with `status()`. */
async function startReceiver() {
  const received = [];
  let status = () => 204;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ path: req.url, headers: req.headers, body, at: Date.now() });
      res.writeHead(status(req));
      res.end();
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: (path) => `http://127.0.0.1:${server.address().port}${path}`,
    received,
    answer: (fn) => (status = fn),
    close: () => new Promise((ok) => server.close(ok)),
  };
}

describe.skipIf(skipBrowser)(skipBrowser ? `webhooks page (${skipReason})` : "webhooks page", () => {
  /** @type {Awaited<ReturnType<typeof launch>>} */ let browser;
  /** @type {Awaited<ReturnType<typeof startReceiver>>} */ let receiver;

  beforeAll(async () => {
    browser = await launch();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
  });

  async function openConsole(token, viewport) {
    const page = await browser.context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    if (viewport) await page.setViewportSize(viewport);
    await page.goto(`${base()}/console`);
    if (token) await page.evaluate((t) => (location.hash = `token=${t}`), token);
    return { page, errors };
  }

  const toWebhooks = async (page) => {
    await page.getByRole("navigation", { name: "Settings pages" }).getByRole("button", { name: "Webhooks" }).click();
    await expect.poll(() => page.getByRole("heading", { name: "Webhooks", level: 1 }).isVisible()).toBe(true);
  };

  it("add an endpoint (its secret shown once), send a test event a local receiver verifies, see it delivered, send it again", async () => {
    const ws = newWorkspace();
    const admin = sessionToken(ws);
    const { page, errors } = await openConsole(admin);
    await expect.poll(() => page.getByRole("heading", { name: "API keys", level: 1 }).isVisible()).toBe(true);
    await toWebhooks(page);
    expect(await page.getByRole("button", { name: "API keys" }).getAttribute("aria-current")).toBeNull();
    expect(await page.getByRole("button", { name: "Webhooks" }).getAttribute("aria-current")).toBe("page");
    expect(await page.title()).toBe("Webhooks · owlish console");
    await expect.poll(() => page.getByText("No endpoints yet.").isVisible()).toBe(true);

    await page.getByRole("button", { name: "Add endpoint" }).click();
    const add = page.getByRole("dialog", { name: "Add a webhook endpoint" });
    await expect.poll(() => add.isVisible()).toBe(true);
    // Refused by the API, shown at the field.
    await add.getByLabel("URL").fill("https://10.0.0.1/hook");
    await add.getByRole("button", { name: "Add endpoint" }).click();
    await expect.poll(() => add.locator("#webhook-url-error").textContent()).toMatch(/private address/);

    const url = receiver.url(`/hook-${ws}`);
    await add.getByLabel("URL").fill(url);
    await add.getByLabel("Description (optional)").fill("Browser test receiver");
    // Every event is chosen to begin with; leave out two.
    expect(await add.getByRole("checkbox").count()).toBe(8);
    await add.getByRole("checkbox", { name: "api_key.created" }).uncheck();
    await add.getByRole("checkbox", { name: "api_key.updated" }).uncheck();
    await add.getByRole("button", { name: "Add endpoint" }).click();

    const reveal = page.getByRole("dialog", { name: "The endpoint's signing secret" });
    await expect.poll(() => reveal.isVisible()).toBe(true);
    expect(await reveal.getByText("You won't be able to see it again").isVisible()).toBe(true);
    const secret = (await reveal.locator("#webhook-secret-value").textContent()) ?? "";
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    await reveal.getByRole("button", { name: "Done" }).click();
    await expect.poll(() => reveal.isVisible()).toBe(false);
    expect(await page.content()).not.toContain(secret.slice(6));

    const row = page.getByRole("table", { name: "Webhooks" }).getByRole("row", { name: new RegExp(`hook-${ws}`) });
    await expect.poll(() => row.isVisible()).toBe(true);
    expect(await row.locator("td").nth(1).textContent()).toBe(
      "api_key.rolled, api_key.revoked, api_key.expiring, api_key.expired, api_key.used_after_revoke, api_key.idle",
    );
    expect(await row.locator("td").nth(2).textContent()).toBe("Enabled");

    await row.getByRole("button").click();
    const details = page.getByRole("dialog", { name: url });
    await expect.poll(() => details.isVisible()).toBe(true);
    await expect.poll(() => details.getByText("No deliveries yet.").isVisible()).toBe(true);
    const sentAt = Date.now();
    await details.getByRole("button", { name: "Send test event" }).click();

    // The worker's queue consumer sends it (wrangler dev: a batch waits at most 1 s).
    await expect.poll(() => receiver.received.filter((r) => r.path === `/hook-${ws}`).length, { timeout: 10_000 }).toBe(1);
    const [first] = receiver.received.filter((r) => r.path === `/hook-${ws}`);
    console.log(`test event received ${first.at - sentAt} ms after the click`);
    const event = new Webhook(secret).verify(first.body, first.headers);
    expect(event).toMatchObject({ type: "webhook.test", data: { workspaceId: ws } });
    expect(() => new Webhook(secret).verify(first.body.replace("webhook.test", "webhook.tset"), first.headers)).toThrow();

    const deliveryRow = details.locator("#deliveries-table tbody tr").first();
    await expect.poll(() => deliveryRow.locator("td").nth(2).textContent(), { timeout: 15_000 }).toBe("Delivered");
    expect(await deliveryRow.locator("td").nth(4).textContent()).toBe("HTTP 204");
    await deliveryRow.getByRole("button", { name: /Send again/ }).click();
    await expect.poll(() => receiver.received.filter((r) => r.path === `/hook-${ws}`).length, { timeout: 10_000 }).toBe(2);
    const second = receiver.received.filter((r) => r.path === `/hook-${ws}`)[1];
    expect(second.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(second.body).toBe(first.body);
    await expect.poll(() => deliveryRow.locator("td").nth(3).textContent(), { timeout: 15_000 }).toBe("2");
    await page.screenshot({ path: "test-results/console-webhook.png" });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("an endpoint that answers 410 is disabled, and the page says why; Enable brings it back; Delete removes it", async () => {
    const ws = newWorkspace();
    const admin = sessionToken(ws);
    receiver.answer((req) => (req.url === `/gone-${ws}` ? 410 : 204));
    const created = await call("POST", "/v1/webhooks", admin, { url: receiver.url(`/gone-${ws}`) });
    expect(created.status).toBe(201);
    expect((await call("POST", `/v1/webhooks/${created.body.id}/test`, admin)).status).toBe(202);
    await expect
      .poll(async () => (await call("GET", `/v1/webhooks/${created.body.id}`, admin)).body.disabledReason, { timeout: 10_000 })
      .toBe("gone");

    const { page, errors } = await openConsole(admin);
    await toWebhooks(page);
    const row = page.getByRole("row", { name: new RegExp(`gone-${ws}`) });
    await expect.poll(() => row.locator("td").nth(2).textContent()).toBe("Disabled · answered 410 Gone");
    await row.getByRole("button").click();
    const details = page.getByRole("dialog", { name: created.body.url });
    await expect.poll(() => details.getByText(/answered 410 Gone, which says it wants no more events/).isVisible()).toBe(true);
    expect(await details.getByRole("button", { name: "Send test event" }).isDisabled()).toBe(true);
    await expect.poll(() => details.locator("#deliveries-table tbody tr td").nth(2).textContent()).toBe("Failed");
    expect(await details.locator("#deliveries-table tbody tr td").nth(4).textContent()).toBe("HTTP 410");

    await details.getByRole("button", { name: "Enable" }).click();
    await expect.poll(() => details.getByRole("button", { name: "Disable" }).isVisible()).toBe(true);
    expect(await details.locator("#webhook-disabled").isVisible()).toBe(false);
    expect(await row.locator("td").nth(2).textContent()).toBe("Enabled");

    await details.getByRole("button", { name: "Delete…" }).click();
    await details.getByRole("button", { name: "Delete endpoint" }).click();
    await expect.poll(() => details.isVisible()).toBe(false);
    await expect.poll(() => page.getByText(`Deleted the endpoint ${created.body.url}.`).isVisible()).toBe(true);
    expect(await row.count()).toBe(0);
    expect((await call("GET", `/v1/webhooks/${created.body.id}`, admin)).status).toBe(404);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the keys page flags keys expiring within 14 days, revoked keys still presented and idle keys; a name opens the key", async () => {
    const ws = newWorkspace();
    const admin = sessionToken(ws);
    const expiring = await call("POST", "/v1/api-keys", admin, {
      name: "Partner trial",
      scopes: ["sources:read"],
      expiresAt: new Date(Date.now() + 3 * 86_400_000 + 60_000).toISOString(),
    });
    expect(expiring.status).toBe(201);
    await call("POST", "/v1/api-keys", admin, { name: "Forever", scopes: ["sources:read"] });

    // The real answer: the expiring key, and nothing else.
    const { page, errors } = await openConsole(admin);
    const strip = page.getByRole("region", { name: "Needs attention" });
    await expect.poll(() => strip.isVisible()).toBe(true);
    expect(await strip.getByRole("listitem").allTextContents()).toEqual(["Expiring Partner trial expires in 3 days. Roll it before then."]);
    await strip.getByRole("button", { name: "Partner trial" }).click();
    const dialog = page.getByRole("dialog", { name: "Partner trial" });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await page.keyboard.press("Escape");
    await page.close();

    // The other two kinds come from the request log and the idle policy: answered here as the API would.
    const { page: mocked, errors: mockedErrors } = await openConsole();
    const now = Date.now();
    await mocked.route("**/v1/key-attention", (route) =>
      route.fulfill({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({
          expiring: [],
          usedAfterRevoke: [
            keyRecord({
              id: "key_old",
              name: "Old laptop",
              revokedAt: new Date(now - 86_400_000).toISOString(),
              lastPresentedAt: new Date(now - 2 * 3_600_000).toISOString(),
              lastPresentedIp: "203.0.113.9",
              lastPresentedCountry: "NL",
            }),
          ],
          idle: [keyRecord({ id: "key_idle", name: "Forgotten cron", revokeAt: new Date(now + 6 * 86_400_000 + 60_000).toISOString() })],
        }),
      }),
    );
    await mocked.evaluate((t) => (location.hash = `token=${t}`), admin);
    const mockedStrip = mocked.getByRole("region", { name: "Needs attention" });
    await expect.poll(() => mockedStrip.getByRole("listitem").count()).toBe(2);
    expect(await mockedStrip.getByRole("listitem").allTextContents()).toEqual([
      "Still presented Old laptop was revoked but is still being presented: last 2 hours ago from 203.0.113.9 (NL). Find what still holds it.",
      "Idle Forgotten cron has not been used for long and will be revoked in 6 days by the idle policy.",
    ]);
    expect(errors).toEqual([]);
    expect(mockedErrors).toEqual([]);
    await mocked.close();
  });

  it("at a phone's width the Webhooks page and an endpoint's dialog cut nothing off", async () => {
    const ws = newWorkspace();
    const admin = sessionToken(ws);
    const created = await call("POST", "/v1/webhooks", admin, {
      url: receiver.url(`/a-rather-long-path/for-a-receiver/that-does-not-fit-on-a-phone-${ws}`),
      description: "Pages the on-call engineer when a key leaks",
      events: ["api_key.revoked", "api_key.used_after_revoke"],
    });
    expect(created.status).toBe(201);
    expect((await call("POST", `/v1/webhooks/${created.body.id}/test`, admin)).status).toBe(202);
    const { page, errors } = await openConsole(admin, { width: 390, height: 844 });
    await toWebhooks(page);
    const row = page.getByRole("row", { name: /a-rather-long-path/ });
    await expect.poll(() => row.isVisible()).toBe(true);
    expect(await page.evaluate(findClipping)).toEqual([]);
    await row.getByRole("button").click();
    const details = page.getByRole("dialog", { name: created.body.url });
    await expect.poll(() => details.locator("#deliveries-table tbody tr").count()).toBe(1);
    expect(await page.evaluate(findClipping)).toEqual([]);
    await page.screenshot({ path: "test-results/console-webhook-phone.png", fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});
