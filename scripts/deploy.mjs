// `npm run deploy`: apply the D1 migrations to the remote database, then
// `wrangler deploy`. Refuses to start while wrangler.toml still holds the
// placeholder ids of a fresh clone (README "Deploy" lists the one-time setup),
// and warns after deploying if the SESSION_SECRET or WEBHOOK_SECRET_KEYS secret is missing.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const toml = readFileSync("wrangler.toml", "utf8");
const missing = [];
if (/database_id\s*=\s*"0{8}-0{4}-0{4}-0{4}-0{12}"/.test(toml)) {
  missing.push('[[d1_databases]] database_id: run `npx wrangler d1 create owlish-keys` and paste the "database_id" it prints.');
}
if (/^\s*id\s*=\s*"0{32}"/m.test(toml)) {
  missing.push('[[kv_namespaces]] id: run `npx wrangler kv namespace create KEY_CACHE` and paste the "id" it prints.');
}
if (missing.length) {
  console.error(`wrangler.toml still has placeholder ids; nothing was deployed.\n  ${missing.join("\n  ")}\nSee README.md, "Deploy".`);
  process.exit(1);
}

function wrangler(args, options = {}) {
  try {
    return execFileSync("wrangler", args, { stdio: "inherit", ...options });
  } catch (error) {
    if (options.stdio) throw error;
    console.error(`\n\`wrangler ${args.join(" ")}\` failed (see above); nothing after it was run.`);
    process.exit(error.status || 1);
  }
}

// Migrations first: the new code may need the new schema, the old code ignores it.
wrangler(["d1", "migrations", "apply", "DB", "--remote"]);
wrangler(["deploy"]);

try {
  const secrets = JSON.parse(wrangler(["secret", "list", "--format", "json"], { stdio: ["ignore", "pipe", "ignore"] }).toString());
  if (Array.isArray(secrets) && !secrets.some((s) => s?.name === "SESSION_SECRET")) {
    console.warn("\nWARNING: SESSION_SECRET is not set: every console call will answer 503. Run `npx wrangler secret put SESSION_SECRET`.");
  }
  if (Array.isArray(secrets) && !secrets.some((s) => s?.name === "WEBHOOK_SECRET_KEYS")) {
    console.warn("\nWARNING: WEBHOOK_SECRET_KEYS is not set: the webhook routes answer 503 and no event is sent. See docs/webhooks.md.");
  }
} catch {
  // Listing secrets is only a courtesy check.
}
