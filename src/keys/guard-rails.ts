import type { Context } from "hono";
import type { AppEnv } from "../context";
import { Problem, unavailable } from "../http/problem";
import { type AllowlistMatcher, allowlistMatches, compileAllowlist } from "../lib/cidr";
import { errorMessage, log } from "../lib/log";
import { rateLimitHeaders } from "../ratelimit/headers";
import type { RatePolicy } from "../ratelimit/types";
import type { VerifiedKey } from "./verify/verified-key";

/**
 * The per-key guard rails, checked by requireKey once a key is known to be
 * active: where it may be used from, and how often. The caller only calls in
 * when the key has an allowlist or a limit, so a key without either pays two
 * property reads and nothing else.
 */

/**
 * Compiled allowlists, one per cached key record. The key store hands out the
 * same VerifiedKey object for as long as it keeps the key (memo hits), and a
 * new object when it reads a new copy (a refresh, a change published by this
 * isolate), so keying on the object compiles each version of a list once and
 * never serves a list that is out of date. A WeakMap holds nothing the memo
 * has dropped. `null` marks a stored list that does not compile.
 */
const compiled = new WeakMap<VerifiedKey, AllowlistMatcher | null>();

function matcherFor(key: VerifiedKey): AllowlistMatcher | null {
  let matcher = compiled.get(key);
  if (matcher === undefined) {
    try {
      matcher = compileAllowlist(key.ipAllowlist);
    } catch (error) {
      // Only validated, normalised entries are ever written, so this is
      // damaged data. Guessing would either let every address in or lock the
      // key out for a reason nobody can see; refuse as storage failing does.
      log("error", "ip_allowlist_corrupt", { keyId: key.id, error: errorMessage(error) });
      matcher = null;
    }
    compiled.set(key, matcher);
  }
  return matcher;
}

/**
 * The caller's address must be in the key's allowlist (which is not empty).
 *
 * The address is Cloudflare's CF-Connecting-IP, as received: the edge sets it
 * from the connection itself and overwrites any value a client sends, whereas
 * X-Forwarded-For is whatever the client (or any proxy) wrote, so trusting it
 * would let anyone claim an allowed address. A request without the header
 * never matches: "unknown" must not mean "allowed".
 */
export function requireAllowedAddress(key: VerifiedKey, clientIp: string | undefined): void {
  const matcher = matcherFor(key);
  if (matcher === null)
    throw unavailable(
      "This API key's settings cannot be read; the request was not processed.",
      `ip allowlist of ${key.id} does not compile`,
    );
  // Synchronous on purpose: the matcher parses into one buffer shared by the isolate.
  if (!allowlistMatches(matcher, clientIp)) {
    throw new Problem("ip_not_allowed", "This API key may not be used from this address.");
  }
}

/**
 * Counts the call against the key's limit and decides it, without waiting
 * on anything (the limiter syncs with other isolates in the background).
 * The RateLimit headers go on the context, not on one response, so whatever
 * answers the request next (the route, a 403 for the scope, a 404, the 429
 * below) carries them.
 */
export function takeRateLimit(c: Context<AppEnv>, keyId: string, policy: RatePolicy): void {
  const decision = c.var.services.limiter.take(keyId, policy, c.executionCtx, c.env);
  const headers = rateLimitHeaders(decision);
  for (const name in headers) c.header(name, headers[name]);
  if (!decision.allowed) {
    throw new Problem(
      "rate_limited",
      `This API key's rate limit of ${decision.limit} calls per ${decision.periodSeconds} seconds is used up; retry in ${decision.resetSeconds} seconds.`,
      {},
      headers,
    );
  }
}
