// Starting and stopping `wrangler dev` workers for the bench scripts.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { wranglerEnv } from "../local-env.mjs";

export const WORK = ".bench";
const children = [];
const groups = new Map();

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
  const child = spawn(
    "wrangler",
    [
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(port + 1000),
      "--persist-to",
      state,
      "--log-level",
      "warn",
      ...args,
    ],
    {
      env: wranglerEnv,
      stdio: ["ignore", "ignore", "inherit"],
      detached: true,
    },
  );
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  groups.set(base, child.pid);
  return base;
}

export async function ready(base, path = "/health") {
  for (let i = 0; i < 300; i++) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`wrangler dev ${dead.spawnargs.slice(2).join(" ")} exited with ${dead.exitCode}`);
    const ok = await fetch(base + path, { signal: AbortSignal.timeout(5_000) }).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) {
      // Something answers: make sure it is the worker started here, not a leftover on the same port.
      if (existsSync("/proc/self/schedstat") && groups.has(base) && workerCpuNs(base) === null) {
        throw new Error(`${base} answers, but not from the wrangler dev started here: is the port taken?`);
      }
      return;
    }
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
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ]) {
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

/**
 * CPU time (ns) used so far by every thread of the workerd processes of the
 * worker started at `base` (its process group), from Linux's
 * /proc/<pid>/task/<tid>/schedstat. Unlike wall time, it does not count the
 * time another process held the CPU. wrangler's own process is left out: it
 * relays the worker's log lines to the terminal after the fact, which would
 * land in whatever is measured next. Null where /proc has no schedstat.
 */
export function workerCpuNs(base) {
  const pgid = groups.get(base);
  let total = 0;
  let seen = false;
  for (const pid of processGroup(pgid)) {
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
        seen = true;
      } catch {}
    }
  }
  return seen ? total : null;
}

const members = new Map();
function processGroup(pgid) {
  // The group's processes are all started with the worker; look them up once it answers.
  if (!members.has(pgid)) {
    const pids = [];
    try {
      for (const pid of readdirSync("/proc")) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
          if (command === "workerd" && Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === pgid) pids.push(pid);
        } catch {}
      }
    } catch {}
    if (pids.length === 0) return pids;
    members.set(pgid, pids);
  }
  return members.get(pgid);
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Waits until every worker of `bases` is idle (under `share` of one core over
 * `windowMs`, at most `maxMs` in all), so that background work one run left
 * behind (refreshes, use reports, recorder flushes) is not measured as the
 * next run's cost. Returns the milliseconds waited.
 */
export async function settle(bases, { share = 0.05, windowMs = 500, maxMs = 15_000 } = {}) {
  const started = Date.now();
  const cpu = () => bases.reduce((sum, base) => sum + (workerCpuNs(base) ?? 0), 0);
  while (Date.now() - started < maxMs) {
    const before = cpu();
    await new Promise((r) => setTimeout(r, windowMs));
    if (cpu() - before < share * windowMs * 1e6) break;
  }
  return Date.now() - started;
}
