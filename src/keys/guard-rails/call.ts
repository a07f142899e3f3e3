import type { WaitUntil } from "../../env";
import type { KeyRateLimiter, RateLimitEnv } from "../../ratelimit/types";

/** What a rail's check may use of the call. */
export interface KeyCall {
  keyId: string;
  /** The rate-limit budget the key draws from (shared by the keys of a roll). */
  budgetId: string;
  /** CF-Connecting-IP as received (at the edge Cloudflare sets it; locally it is whatever the client sends). */
  clientIp: string | undefined;
  limiter: KeyRateLimiter;
  ctx: WaitUntil;
  env: RateLimitEnv;
  /** Sets a header on whatever answers the call next: the route, a refusal, an error. */
  header(name: string, value: string): void;
}
