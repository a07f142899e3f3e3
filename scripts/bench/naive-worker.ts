import { createApp } from "../../src/app";
import type { Env } from "../../src/env";
import production from "../../src/index";
import { parseOptions } from "../../src/options";
import { WindowRateLimiter } from "../../src/ratelimit/limiter";
import { DirectKeyStore, DirectUseWriter } from "./naive-parts";

export { ChangeCourier } from "../../src/delivery/change-courier";
export { RateLimitCounter } from "../../src/ratelimit/counter";
export { LastUsedRecorder } from "../../src/usage/last-used-recorder";

let app: ReturnType<typeof createApp> | undefined;

/**
 * The bench's no-cache baseline: the same app, assembled from the naive parts.
 * The bench's keys have no rate limit, so the limiter (production's) is never
 * called; it is there because every app has one. The cron and the queue
 * consumers are production's: wrangler.toml binds them, and the keys the bench
 * creates send webhook events like any others.
 */
export default {
  scheduled: production.scheduled,
  queue: production.queue,
  fetch(request, env, ctx) {
    app ??= createApp({
      options: parseOptions(env),
      services: { keys: new DirectKeyStore(), usage: new DirectUseWriter(), limiter: new WindowRateLimiter() },
    });
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
