import type { AppParts } from "./context";
import { createEdgeApp } from "./edge";
import type { Env } from "./env";
import { problemBody, problemHeaders, unavailable } from "./http/problem";
import { CachedKeyStore } from "./keys/verify/cached-key-store";
import { errorMessage, log } from "./lib/log";
import type { AppOptions } from "./options";
import { OptionsError } from "./options-error";
import { WindowRateLimiter } from "./ratelimit/limiter";
import { CoalescingReporter } from "./usage/coalescing-reporter";

export { ChangeCourier } from "./delivery/change-courier";
export { RateLimitCounter } from "./ratelimit/counter";
export { LastUsedRecorder } from "./usage/last-used-recorder";

type EdgeApp = ReturnType<typeof createEdgeApp>;

// The isolate's state lives as long as the isolate: one key memo, one use
// queue, one set of rate-limit counters (synced through RATE_LIMITS).
const keys = new CachedKeyStore();
const limiter = new WindowRateLimiter();
let reporter: { coalesceMs: number; instance: CoalescingReporter } | undefined;
let built: { options: AppOptions; app: EdgeApp } | undefined;
const byEnv = new WeakMap<Env, EdgeApp>();

/**
 * The production app for this environment, built on first use. The Workers
 * runtime hands every request the same `env`, so the options are parsed and
 * the app built once per isolate; an env with other values (a redeploy
 * changes the isolate anyway) gets its own build. The options' parser (and
 * its schema library) and the full app (every other route and the API
 * reference) are imported on first need, not at start-up; the full app is
 * built with the same parts, so it shares the key memo and use queue.
 */
async function build(env: Env): Promise<EdgeApp> {
  const { readOptions } = await import("./options");
  const options = readOptions(env);
  if (built?.options !== options) {
    if (reporter?.coalesceMs !== options.lastUsedCoalesceMs) {
      reporter = { coalesceMs: options.lastUsedCoalesceMs, instance: new CoalescingReporter({ coalesceMs: options.lastUsedCoalesceMs }) };
    }
    const parts: AppParts = { options, services: { keys, usage: reporter.instance, limiter } };
    let full: ReturnType<typeof loadFullApp> | undefined;
    const fullApp = () =>
      (full ??= loadFullApp(parts).catch((error: unknown) => {
        full = undefined; // a failed load is tried again by the next request, not remembered
        throw error;
      }));
    built = { options, app: createEdgeApp(parts, fullApp) };
  }
  byEnv.set(env, built.app);
  return built.app;
}

async function loadFullApp(parts: AppParts) {
  const { createApp } = await import("./app");
  return createApp(parts);
}

/** The queue consumers of this worker, by queue name (wrangler.toml [[queues.consumers]]). */
const QUEUES: Record<string, (batch: MessageBatch<unknown>, env: Env) => Promise<void>> = {
  "owlish-webhook-deliveries": async (batch, env) => (await import("./webhooks/consumer")).consumeDeliveries(batch, env),
  "owlish-webhook-deliveries-dlq": async (batch, env) => (await import("./webhooks/consumer")).consumeDeadLetters(batch, env),
};

export default {
  scheduled(controller, env, ctx) {
    ctx.waitUntil(import("./scheduled").then(({ runScheduledJobs }) => runScheduledJobs(env, controller.scheduledTime)));
  },

  async queue(batch, env, _ctx) {
    const consume = QUEUES[batch.queue];
    if (!consume) {
      log("error", "unknown_queue", { queue: batch.queue });
      batch.retryAll();
      return;
    }
    await consume(batch, env);
  },

  fetch(request, env, ctx) {
    const app = byEnv.get(env);
    if (app) return app.fetch(request, env, ctx);
    return build(env).then(
      (built) => built.fetch(request, env, ctx),
      (error: unknown) => {
        if (!(error instanceof OptionsError)) throw error;
        // A misconfigured deploy fails closed, and says why in the log (not to the client).
        const requestId = crypto.randomUUID();
        log("error", "invalid_configuration", { requestId, error: errorMessage(error) });
        return misconfigured(request, requestId);
      },
    );
  },
} satisfies ExportedHandler<Env>;

/**
 * The table's 503 `unavailable`, answered before any app (and so any request
 * context) exists; like every problem it carries the request id (the one
 * logged with the configuration error), in the body and X-Request-Id.
 */
function misconfigured(request: Request, requestId: string): Response {
  const problem = unavailable("The service is misconfigured; nothing was done.");
  const headers = problemHeaders(problem);
  headers.set("X-Request-Id", requestId);
  headers.set("X-Content-Type-Options", "nosniff");
  const body = problemBody(problem, requestId, new URL(request.url).origin);
  return new Response(JSON.stringify(body), { status: problem.status, headers });
}
