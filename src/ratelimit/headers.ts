import type { RateDecision, RatePolicy } from "./types";

/**
 * The RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-11,
 * plus Retry-After for refusals.
 *
 * Both fields are Structured Field Lists (RFC 9651) with one item: the policy
 * name as an sf-string, then integer parameters. The name is the same in both
 * fields so a client can match them: "key", the one policy we have (one quota
 * per API key).
 *
 *   RateLimit-Policy: "key";q=100;w=60   quota q per window of w seconds
 *   RateLimit: "key";r=42;t=17           r left in this window, which ends in t seconds
 */
const RATE_LIMIT_POLICY_NAME = "key";

export const RATE_LIMIT_POLICY_HEADER = "RateLimit-Policy";
export const RATE_LIMIT_HEADER = "RateLimit";
const RETRY_AFTER_HEADER = "Retry-After";

/** `"key";q=<limit>;w=<periodSeconds>` */
export function rateLimitPolicyValue(policy: RatePolicy): string {
  return `"${RATE_LIMIT_POLICY_NAME}";q=${sfInteger(policy.limit)};w=${sfInteger(policy.periodSeconds)}`;
}

/** `"key";r=<remaining>;t=<seconds until the window resets>` */
export function rateLimitValue(decision: Pick<RateDecision, "remaining" | "resetSeconds">): string {
  return `"${RATE_LIMIT_POLICY_NAME}";r=${sfInteger(decision.remaining)};t=${sfInteger(decision.resetSeconds)}`;
}

/** Retry-After as delay-seconds: the window's end, when the count starts again from zero. */
function retryAfterValue(decision: Pick<RateDecision, "resetSeconds">): string {
  return String(sfInteger(decision.resetSeconds));
}

/**
 * Every header a response to a rate-limited key carries: the two RateLimit
 * fields always (success or error alike), Retry-After only when the call was
 * refused for the rate limit.
 */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    [RATE_LIMIT_POLICY_HEADER]: rateLimitPolicyValue(decision),
    [RATE_LIMIT_HEADER]: rateLimitValue(decision),
  };
  if (!decision.allowed) headers[RETRY_AFTER_HEADER] = retryAfterValue(decision);
  return headers;
}

/**
 * The draft's parameters are non-negative integers, and an sf-integer has at
 * most 15 digits: whatever arithmetic produced the number, what goes on the
 * wire is in range (a negative `r` or a fraction would make the whole field
 * invalid, and a client must then ignore it).
 */
function sfInteger(n: number): number {
  const v = Math.floor(Number(n));
  return Number.isNaN(v) ? 0 : Math.min(Math.max(v, 0), 999_999_999_999_999);
}
