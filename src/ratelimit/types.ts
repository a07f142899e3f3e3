import type { RateLimitCounterRpc, WaitUntil } from "../env";

/** A key's rate limit, as stored on the key: `limit` calls per `periodSeconds`. */
export interface RatePolicy {
  limit: number;
  periodSeconds: number;
}

/** The limits the contract allows on a key (the key schema enforces them; the limiter clamps to them). */
export const MIN_LIMIT = 1;
export const MAX_LIMIT = 100_000;
export const MIN_PERIOD_SECONDS = 1;
export const MAX_PERIOD_SECONDS = 3_600;

/** What one call to `take` decided; everything the response headers need. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Calls left in this window after this one; 0 when refused. */
  remaining: number;
  /** Whole seconds until the window ends, in [0, periodSeconds]. */
  resetSeconds: number;
  periodSeconds: number;
}

/** The one binding the limiter uses; absent (or no env at all): enforce within the isolate only. */
export interface RateLimitEnv {
  RATE_LIMITS?: DurableObjectNamespace<RateLimitCounterRpc>;
}

export interface KeyRateLimiter {
  /**
   * Counts one authenticated call of `keyId` and decides it, synchronously:
   * never awaits the network (the cross-isolate sync, if any, runs in
   * `ctx.waitUntil`). Call it once per call with a key whose rateLimit is not
   * null, whether or not the call then succeeds; never for keys without one.
   */
  take(keyId: string, policy: RatePolicy, ctx: WaitUntil, env?: RateLimitEnv, now?: number): RateDecision;
}
