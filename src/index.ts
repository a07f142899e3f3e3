import { createApp } from "./app";
import type { Env } from "./env";
import { CachedKeyStore } from "./keys/cached-key-store";
import { errorMessage, log } from "./log";
import { OptionsError, optionsSignature, parseOptions } from "./options";
import { WindowRateLimiter } from "./ratelimit/limiter";
import { CoalescingReporter } from "./usage/coalescing-reporter";

export { LastUsedRecorder } from "./usage/last-used-recorder";
export { RateLimitCounter } from "./ratelimit/counter";

type App = ReturnType<typeof createApp>;

// The isolate's state lives as long as the isolate: one key memo, one use
// queue, one set of rate-limit counters (synced through RATE_LIMITS).
const keys = new CachedKeyStore();
const limiter = new WindowRateLimiter();
let reporter: { coalesceMs: number; instance: CoalescingReporter } | undefined;
let built: { signature: string; app: App } | undefined;
const byEnv = new WeakMap<Env, App>();

/**
 * The production app for this environment, built on first use. The Workers
 * runtime hands every request the same `env`, so this parses the options and
 * builds the routes once per isolate; an env with other values (a redeploy
 * changes the isolate anyway) gets its own build.
 */
function appFor(env: Env): App {
  const cached = byEnv.get(env);
  if (cached) return cached;
  const signature = optionsSignature(env);
  if (built?.signature !== signature) {
    const options = parseOptions(env);
    if (reporter?.coalesceMs !== options.lastUsedCoalesceMs) {
      reporter = { coalesceMs: options.lastUsedCoalesceMs, instance: new CoalescingReporter({ coalesceMs: options.lastUsedCoalesceMs }) };
    }
    built = { signature, app: createApp({ options, services: { keys, usage: reporter.instance, limiter } }) };
  }
  byEnv.set(env, built.app);
  return built.app;
}

export default {
  fetch(request, env, ctx) {
    let app: App;
    try {
      app = appFor(env);
    } catch (error) {
      if (!(error instanceof OptionsError)) throw error;
      // A misconfigured deploy fails closed, and says why in the log (not to the client).
      log("error", "invalid_configuration", { error: errorMessage(error) });
      return misconfigured();
    }
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;

function misconfigured(): Response {
  const body = {
    type: "https://owlish.bot/docs/errors#unavailable",
    title: "Service unavailable",
    status: 503,
    detail: "The service is misconfigured; nothing was done.",
    code: "unavailable",
  };
  return new Response(JSON.stringify(body), {
    status: 503,
    headers: { "Content-Type": "application/problem+json", "Cache-Control": "no-store", "Retry-After": "60" },
  });
}
