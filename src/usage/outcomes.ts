/**
 * What became of a call presented with one of our keys: served (`ok`) or
 * refused, and why. Counted per key per day and kept in the request log.
 * The order is the order of every count vector (a day's `outcomes`) and the
 * index a logged call carries.
 *
 * This module is on the start-up path (requireKey at the edge): plain values
 * only, no schema library.
 */
export const OUTCOMES = ["ok", "insufficient_scope", "ip_not_allowed", "rate_limited", "revoked", "expired"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const OUTCOME_INDEX: Readonly<Record<Outcome, number>> = {
  ok: 0,
  insufficient_scope: 1,
  ip_not_allowed: 2,
  rate_limited: 3,
  revoked: 4,
  expired: 5,
};

/**
 * Whether a call with this outcome is a use of the key (its last use, its
 * daily `requests`): it passed verification and the key's IP allowlist,
 * whether or not the route's scope or the rate limit then refused it.
 */
export const isUse = (outcome: Outcome): boolean => outcome === "ok" || outcome === "insufficient_scope" || outcome === "rate_limited";

/**
 * The outcome of a refusal, by the problem code that refused the call; null
 * for anything else (a 503 because storage or the key's settings could not be
 * read is not a judgement on the call, and is not logged).
 */
export function refusalOutcome(code: string): Outcome | null {
  switch (code) {
    case "revoked_api_key":
      return "revoked";
    case "expired_credentials":
      return "expired";
    case "insufficient_scope":
    case "ip_not_allowed":
    case "rate_limited":
      return code;
    default:
      return null;
  }
}

/** A day's calls per outcome, in OUTCOMES order. */
export type OutcomeCounts = [number, number, number, number, number, number];

export const noOutcomes = (): OutcomeCounts => [0, 0, 0, 0, 0, 0];

/** Uses among a day's outcomes: what `requests` counts. */
export const usesOf = (o: readonly number[]): number => (o[0] ?? 0) + (o[1] ?? 0) + (o[3] ?? 0);
