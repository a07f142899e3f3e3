// Debian's Chromium, driven by playwright-core. Locally a missing Chromium
// skips the browser tests with a reason; in CI (.ci/run installs it) it fails them.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const inCI = !!process.env.CI && process.env.CI !== "false";
export const chromiumMissing = !existsSync(CHROMIUM);
/** Skip only outside CI. */
export const skipBrowser = chromiumMissing && !inCI;
export const skipReason = `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH; browser tests skipped`;

if (skipBrowser) console.warn(`\n[browser tests] ${skipReason}\n`);

/** A headless Chromium with a fresh profile. Close it with the returned close(). */
export async function launch() {
  if (chromiumMissing) throw new Error(`${skipReason.split(":")[0]}; in CI .ci/run installs it with apt-get.`);
  const profile = mkdtempSync(join(tmpdir(), "owlish-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    locale: "en-US",
    timezoneId: "UTC",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
