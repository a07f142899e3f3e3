// Shared by `npm run dev` and `npm run bench`: a .dev.vars with a real random
// secret, local D1 migrations applied, and the environment wrangler needs offline.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";

export const wranglerEnv = {
  ...process.env,
  // No internet here: don't fetch Request.cf, don't send metrics.
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};

export function ensureDevVars(path = ".dev.vars") {
  if (!existsSync(path)) {
    copyFileSync(".dev.vars.example", path);
    const text = readFileSync(path, "utf8").replace(/^SESSION_SECRET=.*$/m, `SESSION_SECRET=${randomBytes(32).toString("hex")}`);
    writeFileSync(path, text);
  }
  const match = readFileSync(path, "utf8").match(/^SESSION_SECRET=(.+)$/m);
  if (!match) throw new Error(`${path} has no SESSION_SECRET line`);
  return match[1].trim();
}

export function applyLocalMigrations(extraArgs = []) {
  execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", ...extraArgs], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...wranglerEnv, CI: "true" },
  });
}
