// `npm run dev [-- --port N]`: local D1/KV/Durable Object, migrations applied,
// then `wrangler dev`, and a ready admin session for the demo workspace.
import { spawn } from "node:child_process";
import { applyLocalMigrations, ensureDevVars, wranglerEnv } from "./local-env.mjs";
import { signSession } from "./session-token.mjs";

const args = process.argv.slice(2);
const portArg = args.findIndex((a) => a === "--port" || a.startsWith("--port="));
const port = portArg === -1 ? "8787" : args[portArg].includes("=") ? args[portArg].split("=")[1] : args[portArg + 1];
// Both spellings wrangler accepts: --persist-to=<dir> and --persist-to <dir>.
const persistAt = args.findIndex((a) => a === "--persist-to" || a.startsWith("--persist-to="));
const persistArgs = persistAt === -1 ? [] : args[persistAt].includes("=") ? [args[persistAt]] : args.slice(persistAt, persistAt + 2);

const secret = ensureDevVars();
applyLocalMigrations(persistArgs);

const token = signSession(secret, { sub: "usr_demo_admin", ws: "ws_demo", role: "admin" });
const base = `http://localhost:${port}`;
const banner = `
  owlish keys is running on ${base}   (API reference: ${base}/docs)

  Admin session for workspace ws_demo, valid 12 hours (development only):
    export TOKEN='${token}'

  Console, signed in as that demo admin. DEVELOPMENT ONLY: production has no
  such link; there the console's login system issues the session token.
    ${base}/console#token=${token}

  Create a key, use it, revoke it:
    curl -s -X POST ${base}/v1/api-keys -H "Authorization: Bearer $TOKEN" \\
      -H 'Content-Type: application/json' -d '{"name":"my script","scopes":["sources:read","sources:write"]}'
    export KEY='sk_live_…'        # the "key" field above; it is shown only once
    curl -s ${base}/v1/key -H "Authorization: Bearer $KEY"
    curl -s -X POST ${base}/v1/sources -H "Authorization: Bearer $KEY" \\
      -H 'Content-Type: application/json' -d '{"name":"Docs","type":"url","url":"https://example.com"}'
    curl -s ${base}/v1/api-keys -H "Authorization: Bearer $TOKEN"
    curl -s -X POST ${base}/v1/api-keys/KEY_ID/revoke -H "Authorization: Bearer $TOKEN"
`;

const child = spawn("wrangler", ["dev", ...(portArg === -1 ? ["--port", port] : []), ...args], {
  env: wranglerEnv,
  stdio: ["inherit", "pipe", "inherit"],
});
let shown = false;
const show = () => {
  if (!shown) process.stdout.write(banner);
  shown = true;
};
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  if (/Ready on/i.test(chunk.toString())) show();
});
setTimeout(show, 30_000).unref();
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));
