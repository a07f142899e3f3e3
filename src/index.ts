import { app } from "./app";
import type { Env } from "./env";

export { LastUsedRecorder } from "./usage/last-used-recorder";
export { RateLimitCounter } from "./ratelimit/counter";

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
