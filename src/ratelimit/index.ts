/**
 * Per-key rate limits. The key-verification middleware calls
 * `isolateRateLimiter.take(...)` for keys whose rateLimit is not null, and
 * puts `rateLimitHeaders(decision)` on whatever it answers.
 */
import { WindowRateLimiter } from "./limiter";
import type { KeyRateLimiter } from "./types";

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

/**
 * The isolate's limiter: module scope, so its counters live as long as the
 * isolate and are shared by every request it serves.
 */
export const isolateRateLimiter: KeyRateLimiter = new WindowRateLimiter();
