// Cold start of GET /v1/key under `wrangler dev`, against the same request warm.
//
// Per run, on fresh local state (migrations applied, LOG_SUCCESSES=false, as
// scripts/bench.mjs runs the worker):
//   1. a first `wrangler dev` seeds one API key (admin session token), then stops;
//   2. a second one starts on the same state. Its port is polled with bare TCP
//      connects (no HTTP request reaches the worker); as soon as it accepts,
//      GET /v1/key is sent: `cold` is that request's latency. It is the first
//      request the new worker sees;
//   3. then `warm`: the median latency of 20 sequential GET /v1/key;
//   4. a third `wrangler dev` on the same state: GET /v1/key sent only once
//      it reports "Ready" (+300 ms): `afterReady`, a fresh isolate's first
//      request without the wait for the runtime to start.
// What `cold` holds: with wrangler dev the port belongs to wrangler's proxy,
// which accepts before the worker runs and holds the request until it does,
// so `cold` = the rest of the dev server's start (bundling, workerd start,
// the worker's top-level evaluation) + the first request. workerd evaluates
// the top level before it reports ready, so `afterReady` excludes it: the
// startup CPU itself is `npm run startup`'s figure.
//
//   node scripts/bench/cold-start.mjs      (COLD_START_RUNS, default 5)
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import net from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ensureDevVars, wranglerEnv } from "../local-env.mjs";
import { signSession } from "../session-token.mjs";

const WORK = join(".bench", "cold-start");
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function accepts(port) {
  return new Promise((ok) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      ok(true);
    });
    socket.once("error", () => ok(false));
  });
}

function startDev(state, port, { logLevel = "warn" } = {}) {
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
      logLevel,
      "--var",
      "LOG_SUCCESSES:false",
    ],
    { env: wranglerEnv, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  const output = [];
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  const take = (chunk) => {
    const text = String(chunk);
    output.push(text);
    if (output.length > 200) output.shift();
    if (/Ready on http/.test(text)) onReady(performance.now());
  };
  child.stdout.on("data", take);
  child.stderr.on("data", take);
  const exited = new Promise((r) => child.once("exit", r));
  return { child, ready, exited, output };
}

async function stopDev(dev, port) {
  try {
    process.kill(-dev.child.pid, "SIGTERM");
  } catch {}
  const killed = await Promise.race([dev.exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!killed) {
    try {
      process.kill(-dev.child.pid, "SIGKILL");
    } catch {}
    await dev.exited;
  }
  // workerd may outlive wrangler for a moment: wait for the port to be free.
  for (let i = 0; i < 100 && (await accepts(port)); i++) await sleep(100);
}

async function timedGet(url, headers) {
  const start = performance.now();
  const response = await fetch(url, { headers });
  const body = await response.text();
  const ms = performance.now() - start;
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${body.slice(0, 300)}`);
  return ms;
}

async function waitForHealth(base, dev) {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {}
    if (dev.child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`${base} did not start:\n${dev.output.join("").slice(-2000)}`);
}

/**
 * Returns { coldMs, warmMs, afterReadyMs (medians), runs: [{ coldMs, warmMs,
 * afterReadyMs, acceptAfterMs, firstResponseAfterMs }] }; the *AfterMs times
 * count from the spawn of the second `wrangler dev`.
 */
export async function coldStart({ runs = 5, port = 8931, warmRequests = 20, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const secret = ensureDevVars();
  const token = signSession(secret, { sub: "usr_bench", ws: "ws_bench", role: "admin" });
  const base = `http://127.0.0.1:${port}`;
  if (await accepts(port)) throw new Error(`port ${port} is already in use`);
  const results = [];
  for (let run = 1; run <= runs; run++) {
    const state = join(WORK, `run-${run}`);
    rmSync(state, { recursive: true, force: true });
    mkdirSync(state, { recursive: true });
    execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
      stdio: "ignore",
      env: { ...wranglerEnv, CI: "true" },
    });

    // 1. Seed a key, then stop.
    const seeder = startDev(state, port);
    let key;
    try {
      await waitForHealth(base, seeder);
      const response = await fetch(`${base}/v1/api-keys`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "cold start", scopes: ["sources:read"] }),
      });
      if (response.status !== 201) throw new Error(`seeding failed: ${response.status} ${await response.text()}`);
      ({ key } = await response.json());
      await sleep(500); // let the create's waitUntil (KV write) finish
    } finally {
      await stopDev(seeder, port);
    }
    const auth = { Authorization: `Bearer ${key}` };

    // 2. + 3. A fresh worker on that state: the first request, as soon as the port accepts; then warm.
    const t0 = performance.now();
    const dev = startDev(state, port);
    let row;
    try {
      while (!(await accepts(port))) {
        if (dev.child.exitCode !== null) throw new Error(`wrangler dev exited:\n${dev.output.join("").slice(-2000)}`);
        await sleep(10);
      }
      const accepted = performance.now();
      const coldMs = await timedGet(`${base}/v1/key`, auth);
      const firstResponse = performance.now();
      const warm = [];
      for (let i = 0; i < warmRequests; i++) warm.push(await timedGet(`${base}/v1/key`, auth));
      row = { coldMs, warmMs: median(warm), acceptAfterMs: accepted - t0, firstResponseAfterMs: firstResponse - t0 };
    } finally {
      await stopDev(dev, port);
    }

    // 4. Another fresh worker: its first request once it is ready.
    const late = startDev(state, port, { logLevel: "info" });
    try {
      const ready = await Promise.race([late.ready, sleep(60_000).then(() => null)]);
      if (ready === null) throw new Error(`wrangler dev never said "Ready on":\n${late.output.join("").slice(-2000)}`);
      await sleep(300);
      row.afterReadyMs = await timedGet(`${base}/v1/key`, auth);
    } finally {
      await stopDev(late, port);
    }
    results.push(row);
    log(
      `cold start run ${run}/${runs}: first GET /v1/key ${row.coldMs.toFixed(0)} ms (sent when the port accepted, ${row.acceptAfterMs.toFixed(0)} ms after spawn), after ready ${row.afterReadyMs.toFixed(1)} ms, warm ${row.warmMs.toFixed(2)} ms`,
    );
  }
  return {
    coldMs: median(results.map((r) => r.coldMs)),
    warmMs: median(results.map((r) => r.warmMs)),
    afterReadyMs: median(results.map((r) => r.afterReadyMs)),
    runs: results,
  };
}

export function formatColdStart(r) {
  return [
    `cold start   = ${r.coldMs.toFixed(0)} ms first GET /v1/key of a new wrangler dev, sent when its port accepts (median of ${r.runs.length}; includes the dev server's start)`,
    `               ${r.afterReadyMs.toFixed(1)} ms first GET /v1/key of a new worker once ready; warm ${r.warmMs.toFixed(2)} ms (median of sequential requests)`,
  ].join("\n");
}

/** For scripts/bench.mjs: the cold-start figure and the startup median, printed. */
export async function printStartupFigures({ runs = Number(process.env.COLD_START_RUNS ?? 5) } = {}) {
  const { measureStartup, GOAL_MS } = await import("../startup.mjs");
  const { bundleModules, cpuMeasurable, measureStartupCpu } = await import("../startup-profile.mjs");
  const startup = measureStartup({ runs, log: () => {} });
  let cpu = "";
  if (cpuMeasurable()) {
    const b = await bundleModules(startup.bundle);
    cpu = `; workerd CPU ${median(await measureStartupCpu(b.modules, b.main, { ...b, runs })).toFixed(1)} ms`;
  }
  console.log(
    `startup      = ${startup.medianMs.toFixed(1)} ms active at startup (wrangler check startup, median of ${runs}; goal ≤ ${GOAL_MS} ms${cpu})`,
  );
  console.log(formatColdStart(await coldStart({ runs, log: () => {} })));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.chdir(fileURLToPath(new URL("../..", import.meta.url)));
  coldStart({ runs: Number(process.env.COLD_START_RUNS ?? 5) })
    .then((r) => {
      console.log(`\n| run | cold ms | after ready ms | warm ms | port accepted after ms | first response after ms |`);
      console.log(`|---:|---:|---:|---:|---:|---:|`);
      for (const [i, x] of r.runs.entries()) {
        console.log(
          `| ${i + 1} | ${x.coldMs.toFixed(0)} | ${x.afterReadyMs.toFixed(1)} | ${x.warmMs.toFixed(2)} | ${x.acceptAfterMs.toFixed(0)} | ${x.firstResponseAfterMs.toFixed(0)} |`,
        );
      }
      console.log(`\n${formatColdStart(r)}`);
      process.exit(0);
    })
    .catch((error) => {
      console.error(error);
      process.exit(1);
    });
}
