// Starting and stopping `wrangler dev` workers for the bench scripts.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { wranglerEnv } from "../local-env.mjs";

export const WORK = ".bench";
const children = [];

/** Starts `wrangler dev` with its own fresh local state (D1 migrated unless a --config names another worker). */
export function startWorker(name, port, args) {
  const state = join(WORK, name);
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  if (!args.includes("--config")) {
    execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
      stdio: "ignore",
      env: { ...wranglerEnv, CI: "true" },
    });
  }
  const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(port + 1000), "--persist-to", state, "--log-level", "warn", ...args], {
    env: wranglerEnv,
    stdio: ["ignore", "ignore", "inherit"],
    detached: true,
  });
  children.push(child);
  return `http://127.0.0.1:${port}`;
}

export async function ready(base, path = "/health") {
  for (let i = 0; i < 300; i++) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`wrangler dev ${dead.spawnargs.slice(2).join(" ")} exited with ${dead.exitCode}`);
    try {
      if ((await fetch(base + path, { signal: AbortSignal.timeout(5_000) })).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${base} did not start`);
}

/** Stops every worker this process started (each wrangler runs in its own process group). */
export function stopWorkers() {
  for (const child of children.splice(0)) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
  }
}

/** Runs `main`, then stops the workers and exits with its outcome (also on Ctrl-C). */
export function runMain(main) {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]]) {
    process.on(signal, () => {
      stopWorkers();
      process.exit(code);
    });
  }
  main()
    .then(() => {
      stopWorkers();
      process.exit(0);
    })
    .catch((error) => {
      console.error(error);
      stopWorkers();
      process.exit(1);
    });
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
