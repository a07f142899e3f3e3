/**
 * Per-key rate limits. The app is given a `KeyRateLimiter` as one of its
 * services (the worker entry builds one WindowRateLimiter per isolate); the
 * key-verification middleware calls its `take(...)` for keys whose rateLimit
 * is not null, and puts `rateLimitHeaders(decision)` on whatever it answers
 * (src/keys/guard-rails.ts).
 */
export { RateLimitCounter } from "./counter";
export {
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
  RATE_LIMIT_POLICY_NAME,
  RETRY_AFTER_HEADER,
  rateLimitHeaders,
  rateLimitPolicyValue,
  rateLimitValue,
  retryAfterValue,
} from "./headers";
export { localRateLimiter, noopRateLimiter, WindowRateLimiter, type WindowRateLimiterOptions } from "./limiter";
export * from "./types";
