// The API reference at /docs renders completely with nothing from another origin.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launch, skipBrowser, skipReason } from "./chromium.mjs";

describe.skipIf(skipBrowser)(skipBrowser ? `API reference (${skipReason})` : "API reference", () => {
  /** @type {string} */ let base;
  /** @type {Awaited<ReturnType<typeof launch>>} */ let browser;

  beforeAll(async () => {
    base = inject("workerBase");
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("renders every route and schema of /openapi.json, making only same-origin requests", async () => {
    const doc = await (await fetch(`${base}/openapi.json`)).json();
    const page = await browser.context.newPage();
    const requests = [];
    const failed = [];
    const errors = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("requestfailed", (r) => failed.push(r.url()));
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    const res = await page.goto(`${base}/docs`, { waitUntil: "networkidle" });
    expect(res?.status()).toBe(200);

    expect(requests.length).toBeGreaterThan(0);
    for (const url of requests) expect(new URL(url).origin, url).toBe(new URL(base).origin);
    expect(failed).toEqual([]);
    expect(errors).toEqual([]);

    const text = await page.locator("body").innerText();
    expect(await page.getByRole("heading", { level: 1 }).first().textContent()).toMatch(/owlish keys/);
    let operations = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        operations++;
        const section = page.locator(`[data-operation="${op.operationId}"]`);
        expect(await section.count(), `${method} ${path}`).toBe(1);
        expect(await section.innerText()).toContain(path);
        expect(await section.innerText()).toContain(op.summary);
        // Each documented response status is listed in that route's section.
        for (const status of Object.keys(op.responses)) expect(await section.innerText(), `${method} ${path} ${status}`).toContain(status);
      }
    }
    expect(operations).toBeGreaterThanOrEqual(10);
    for (const name of Object.keys(doc.components.schemas)) expect(text, name).toContain(name);
    // Every error code a client can meet is explained.
    for (const code of [
      "missing_credentials",
      "invalid_credentials",
      "revoked_api_key",
      "expired_credentials",
      "insufficient_scope",
      "forbidden",
      "invalid_request",
      "not_found",
      "unavailable",
    ]) {
      expect(await page.locator(`#error-${code}`).count(), code).toBe(1);
    }
    // The navigation links land on their sections.
    const firstLink = page.locator("nav a[href^='#']").first();
    const target = (await firstLink.getAttribute("href")) ?? "";
    expect(await page.locator(target).count()).toBe(1);
    await page.close();
  });
});
