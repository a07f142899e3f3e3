import { MAX_LIMIT, MAX_PERIOD_SECONDS, MIN_LIMIT, MIN_PERIOD_SECONDS, type RatePolicy } from "./types";

/**
 * Fixed windows aligned to the epoch: the window of `now` starts at the last
 * multiple of the period. Every isolate, and the Durable Object, computes the
 * same boundaries from the clock alone, so they can add up counts for "the
 * same window" without ever agreeing on a start time first.
 */
export function windowStartOf(now: number, periodMs: number): number {
  return Math.floor(now / periodMs) * periodMs;
}

/** Whole seconds from `now` to `end`, rounded up (a client that waits this long is in the next window), within [0, period]. */
export function secondsUntil(end: number, now: number, periodSeconds: number): number {
  const s = Math.ceil((end - now) / 1000);
  return Number.isFinite(s) ? Math.min(Math.max(s, 0), periodSeconds) : periodSeconds;
}

/**
 * The key schema only lets valid limits in; should a bad one reach the hot
 * path anyway, clamping beats throwing (a throw would turn every call of the
 * key into a 500). A value that is not a number becomes the strictest one:
 * the smallest limit, the longest period.
 */
export function normalizePolicy(policy: RatePolicy): RatePolicy {
  return {
    limit: clampInt(policy.limit, MIN_LIMIT, MAX_LIMIT, MIN_LIMIT),
    periodSeconds: clampInt(policy.periodSeconds, MIN_PERIOD_SECONDS, MAX_PERIOD_SECONDS, MAX_PERIOD_SECONDS),
  };
}

function clampInt(n: number, min: number, max: number, ifNaN: number): number {
  const v = Math.floor(Number(n));
  return Number.isNaN(v) ? ifNaN : Math.min(Math.max(v, min), max);
}
