import { Problem } from "../../http/problem";
import { rateLimitHeaders } from "../../ratelimit/headers";
import type { RatePolicy } from "../../ratelimit/types";
import type { KeyCall } from "./call";

/**
 * Counts the call against the key's limit and decides it, without waiting
 * on anything (the limiter syncs with other isolates in the background).
 * The RateLimit headers go on the call, not on one response, so whatever
 * answers the request next (the route, a 403 for the scope, a 404, the 429
 * below) carries them.
 */
export function takeRateLimit(policy: RatePolicy, call: KeyCall): void {
  // Counted per budget, not per key: while the old and the new key of a roll
  // both work, they share one budget, so a roll never doubles the limit.
  const decision = call.limiter.take(call.budgetId, policy, call.ctx, call.env);
  const headers = rateLimitHeaders(decision);
  for (const name in headers) call.header(name, headers[name]!);
  if (!decision.allowed) {
    throw new Problem(
      "rate_limited",
      `This API key's rate limit of ${decision.limit} calls per ${decision.periodSeconds} seconds is used up; retry in ${decision.resetSeconds} seconds.`,
      {},
      headers,
    );
  }
}

export const isRatePolicy = (v: unknown): v is RatePolicy =>
  typeof v === "object" &&
  v !== null &&
  Number.isSafeInteger((v as { limit?: unknown }).limit) &&
  Number.isSafeInteger((v as { periodSeconds?: unknown }).periodSeconds);

export const samePolicy = (a: RatePolicy | null, b: RatePolicy | null) =>
  a === null || b === null ? a === b : a.limit === b.limit && a.periodSeconds === b.periodSeconds;
