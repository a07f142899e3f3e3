// Starts the real worker with `wrangler dev` on free local ports, on its own
// temporary D1/KV/Durable Object storage (migrated first), for tests that need
// an HTTP server: the browser tests. The worker flushes last-used every second.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const root = resolve(import.meta.dirname, "../..");
const wranglerBin = join(root, "node_modules/wrangler/bin/wrangler.js");
const env = {
  ...process.env,
  CI: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
};

export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** @returns {Promise<{ base: string, secret: string, stop: () => Promise<void>, output: () => string }>} */
export async function startWorker({ vars = {}, timeoutMs = 90_000 } = {}) {
  const persist = mkdtempSync(join(tmpdir(), "owlish-browser-"));
  // wrangler needs Node 22; process.execPath is the Node that runs vitest (node_modules/.bin/node under npm).
  await promisify(execFile)(process.execPath, [wranglerBin, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], {
    cwd: root,
    env,
  });
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const secret = randomBytes(32).toString("hex");
  const allVars = {
    SESSION_SECRET: secret,
    LAST_USED_FLUSH_SECONDS: "1",
    LAST_USED_COALESCE_MS: "0",
    WEBHOOK_SECRET_KEYS: `test:${randomBytes(32).toString("base64")}`,
    // Receivers in the browser tests listen on 127.0.0.1.
    WEBHOOK_ALLOW_LOCAL_URLS: "true",
    ...vars,
  };
  const args = [
    wranglerBin,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    persist,
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
    ...Object.entries(allVars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  // Its own process group, so that stopping it also stops the workerd it starts.
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log = (log + d).slice(-20_000)));
  child.stderr.on("data", (d) => (log = (log + d).slice(-20_000)));
  const exited = new Promise((ok) => child.once("exit", ok));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }, 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(persist, { recursive: true, force: true });
  };

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited with ${child.exitCode}:\n${log}`);
    }
    try {
      const res = await fetch(`${base}/health`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer /health within ${timeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { base, secret, stop, output: () => log };
}
