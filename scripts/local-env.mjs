// Shared by `npm run dev` and `npm run bench`: a .dev.vars with a real random
// secret, local D1 migrations applied, and the environment wrangler needs offline.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";

export const wranglerEnv = {
  ...process.env,
  // No internet here: don't fetch Request.cf, don't send metrics.
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};

/**
 * The local SESSION_SECRET: from the environment if SESSION_SECRET is set
 * there (so a script that signs its own tokens can choose it), else the one
 * already in .dev.vars, else a new random one. Whatever it is, .dev.vars holds
 * it, because that is where wrangler dev reads secrets from.
 */
export function ensureDevVars(path = ".dev.vars") {
  if (!existsSync(path)) {
    copyFileSync(".dev.vars.example", path);
    const text = readFileSync(path, "utf8").replace(/^SESSION_SECRET=.*$/m, `SESSION_SECRET=${randomBytes(32).toString("hex")}`);
    writeFileSync(path, text);
    chmodSync(path, 0o600); // a secret: readable by its owner only
  }
  const fromEnv = process.env.SESSION_SECRET?.trim();
  if (fromEnv) {
    if (/[\r\n]/.test(fromEnv)) throw new Error("SESSION_SECRET must be one line");
    const text = readFileSync(path, "utf8");
    const line = `SESSION_SECRET=${fromEnv}`;
    writeFileSync(
      path,
      /^SESSION_SECRET=.*$/m.test(text) ? text.replace(/^SESSION_SECRET=.*$/m, () => line) : `${text.trimEnd()}\n${line}\n`,
    );
  }
  ensureWebhookVars(path);
  const match = readFileSync(path, "utf8").match(/^SESSION_SECRET=(.+)$/m);
  if (!match) throw new Error(`${path} has no SESSION_SECRET line`);
  return match[1].trim();
}

/**
 * Webhooks locally: a random WEBHOOK_SECRET_KEYS when .dev.vars has none (or
 * the example's placeholder), and WEBHOOK_ALLOW_LOCAL_URLS=true when the file
 * does not mention it at all (a receiver on localhost can then be tried).
 */
function ensureWebhookVars(path) {
  let text = readFileSync(path, "utf8");
  const key = `WEBHOOK_SECRET_KEYS=local:${randomBytes(32).toString("base64")}`;
  const current = text.match(/^WEBHOOK_SECRET_KEYS=(.*)$/m);
  if (!current) text = `${text.trimEnd()}\n${key}\n`;
  else if (current[1].trim() === "" || current[1].trim() === "replace-me") text = text.replace(/^WEBHOOK_SECRET_KEYS=.*$/m, () => key);
  if (!/WEBHOOK_ALLOW_LOCAL_URLS/.test(text)) text = `${text.trimEnd()}\nWEBHOOK_ALLOW_LOCAL_URLS=true\n`;
  writeFileSync(path, text);
}

export function applyLocalMigrations(extraArgs = []) {
  execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", ...extraArgs], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...wranglerEnv, CI: "true" },
  });
}
