import type { Context } from "hono";
import type { AppEnv } from "../context";
import { Problem, type ProblemCode } from "../http/problem";
import { formatIp, parseIp } from "../lib/ip";
import { errorMessage, log } from "../lib/log";

/**
 * Throttling of failed authentication, per client IP, with the Workers Rate
 * Limiting binding AUTH_FAILURES (limit and period in wrangler.toml).
 *
 * Only failures are counted, and only failures are refused: the limiter is
 * consulted *after* a credential has been refused, to decide between 401 and
 * 429. A valid key or session is therefore never slowed or refused, not even
 * from an IP that is being throttled — many honest clients share an egress IP
 * (NAT, CI runners, offices), and one misconfigured job must not lock out the
 * rest. Guessing a key is hopeless anyway (190 random bits); what the limit
 * buys is that a flood of bad credentials gets a cheap, explicit "back off"
 * and stands out in the logs.
 *
 * Counted: a credential was presented and refused (unknown, malformed,
 * revoked or expired key; bad or expired session). Not counted: no
 * credential at all (nothing was tried), 403s (the credential was valid).
 *
 * The authentication middlewares (session.ts, key-credential.ts) pass what
 * they refuse through here, where the refusal is decided.
 */
const COUNTED: ReadonlySet<ProblemCode> = new Set(["invalid_credentials", "revoked_api_key", "expired_credentials"]);

/** What to throw for an error of the authentication step: a refused credential as the throttle decides, anything else as it is. */
export async function authRefusal(c: Context<AppEnv>, error: unknown): Promise<unknown> {
  return error instanceof Problem ? throttleFailedAuth(c, error) : error;
}

async function throttleFailedAuth(c: Context<AppEnv>, refused: Problem): Promise<Problem> {
  if (refused.status !== 401 || !COUNTED.has(refused.code)) return refused;
  const limiter = c.env.AUTH_FAILURES;
  const ip = c.req.header("CF-Connecting-IP");
  // Cloudflare's edge sets CF-Connecting-IP on every request; only local
  // calls (tests, scripts) lack it, and those are not attributed to anyone.
  // Loopback is never a client at the edge: it is `wrangler dev` on one's own
  // machine, where a test run sends hundreds of bad credentials on purpose and
  // must see the contract's 401s, not 429s.
  if (!limiter || !ip || isLoopback(ip)) return refused;
  let allowed: boolean;
  try {
    allowed = (await limiter.limit({ key: `auth-failure:${clientBucket(ip)}` })).success;
  } catch (error) {
    // The answer is already a refusal; a broken limiter must not turn it into a 5xx.
    log("warn", "auth_throttle_unavailable", { requestId: c.get("requestId"), error: errorMessage(error) });
    return refused;
  }
  if (allowed) return refused;
  const retryAfter = c.var.options.authFailurePeriodSeconds;
  log("warn", "auth_throttled", { requestId: c.get("requestId"), clientBucket: clientBucket(ip), refused: refused.code });
  return new Problem(
    "too_many_requests",
    `Too many failed authentications from this address; retry in ${retryAfter} seconds with a valid credential.`,
    {},
    { "Retry-After": String(retryAfter) },
  );
}

/**
 * What one client is, for counting: an IPv4 address, or an IPv6 /64. One
 * IPv6 subscriber usually holds a whole /64 and could otherwise step to a
 * fresh address for every attempt. IPv4-mapped IPv6 (::ffff:a.b.c.d) is that
 * IPv4 client. Something that is not an address (never at the edge, which
 * sets the header itself) counts as itself.
 */
export function clientBucket(ip: string): string {
  const address = ip.trim().slice(0, 64);
  const parsed = parseIp(address);
  if (!parsed) return address.toLowerCase();
  if (parsed.family === 4) return formatIp(parsed);
  const b = parsed.bytes;
  const groups = [0, 2, 4, 6].map((i) => (((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  return `${groups.join(":")}::/64`;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(ip: string): boolean {
  const parsed = parseIp(ip.trim());
  if (!parsed) return false;
  if (parsed.family === 4) return parsed.bytes[0] === 127;
  return parsed.bytes.every((byte, i) => byte === (i === 15 ? 1 : 0));
}
