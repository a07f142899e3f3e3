import type { KeyStore } from "./keys/verify/key-store";
import type { KeyRateLimiter } from "./ratelimit/types";
import type { UseReporter } from "./usage/use-reporter";

/**
 * The parts the app is built from that hold state or reach storage. The
 * worker entry assembles the production ones; the bench and the tests
 * assemble their own (a store that asks D1 every time, a fresh memo per test).
 */
export interface Services {
  keys: KeyStore;
  usage: UseReporter;
  /**
   * Counts and decides the calls of keys that have a rate limit. It holds
   * the isolate's counters, so one instance serves every request of an
   * isolate: production syncs it through the RateLimitCounter Durable
   * Objects; a test isolate gets its own.
   */
  limiter: KeyRateLimiter;
}
