import { Problem, unavailable } from "../../http/problem";
import { type AllowlistMatcher, allowlistMatches, compileAllowlist } from "../../lib/cidr";
import { errorMessage, log } from "../../lib/log";
import type { KeyCall } from "./call";

/**
 * Compiled allowlists, one per list the key store holds. The store hands out
 * the same record (and so the same list object) for as long as it keeps the
 * key (memo hits), and a new one when it reads a new copy (a refresh, a change
 * published by this isolate), so keying on the list compiles each version of
 * a list once and never serves one that is out of date. A WeakMap holds
 * nothing the memo has dropped. `null` marks a stored list that does not compile.
 */
const compiled = new WeakMap<readonly string[], AllowlistMatcher | null>();

function matcherFor(list: readonly string[], keyId: string): AllowlistMatcher | null {
  let matcher = compiled.get(list);
  if (matcher === undefined) {
    try {
      matcher = compileAllowlist(list);
    } catch (error) {
      // Only validated, normalised entries are ever written, so this is
      // damaged data. Guessing would either let every address in or lock the
      // key out for a reason nobody can see; refuse as storage failing does.
      log("error", "ip_allowlist_corrupt", { keyId, error: errorMessage(error) });
      matcher = null;
    }
    compiled.set(list, matcher);
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
export function requireAllowedAddress(list: readonly string[], call: KeyCall): void {
  const matcher = matcherFor(list, call.keyId);
  if (matcher === null)
    throw unavailable(
      "This API key's settings cannot be read; the request was not processed.",
      `ip allowlist of ${call.keyId} does not compile`,
    );
  // Synchronous on purpose: the matcher parses into one buffer shared by the isolate.
  if (!allowlistMatches(matcher, call.clientIp)) {
    throw new Problem("ip_not_allowed", "This API key may not be used from this address.");
  }
}

export const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

// Entries are normalised on the way in (IpAllowlistSchema), so equal lists
// are equal strings in the same order. Reordering a list is a change: the
// admin sees the new order in the record.
export const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
