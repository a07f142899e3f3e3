import type { RateLimitCounter } from "./ratelimit/counter";
import type { LastUsedRecorder } from "./usage/last-used-recorder";

/** Bindings from wrangler.toml, `.dev.vars` and deploy-time secrets. */
export interface Env {
  DB: D1Database;
  KEY_CACHE: KVNamespace;
  LAST_USED: DurableObjectNamespace<LastUsedRecorder>;
  /** Per-key rate-limit counters, one object per key id (src/ratelimit/counter.ts). */
  RATE_LIMITS: DurableObjectNamespace<RateLimitCounter>;
  SESSION_SECRET: string;
  /** The console's page, script and style ([assets] in wrangler.toml, built by scripts/build-console.mjs). */
  ASSETS: Fetcher;
  /** Rate Limiting binding counting failed authentications per client IP ([[ratelimits]] in wrangler.toml). */
  AUTH_FAILURES?: RateLimit;
  /** The AUTH_FAILURES period in seconds, sent as Retry-After with a 429. */
  AUTH_FAILURE_PERIOD_SECONDS?: string;
  LAST_USED_FLUSH_SECONDS?: string;
  LAST_USED_COALESCE_MS?: string;
  /** Comma-separated origins a console on another origin may call from (CORS); empty: none. */
  CORS_ALLOWED_ORIGINS?: string;
  /** "false": log only requests answered with 4xx/5xx (default: every request). */
  LOG_SUCCESSES?: string;
  /** Optional: session tokens must carry this `iss`. */
  SESSION_ISSUER?: string;
  /** Optional: session tokens must carry this `aud`. */
  SESSION_AUDIENCE?: string;
  /** GitHub's secret scanning public keys document (JSON); when set, never fetched. */
  SECRET_SCANNING_PUBLIC_KEYS?: string;
  /** Where GitHub's secret scanning public keys are fetched from when the var above is unset. */
  SECRET_SCANNING_KEYS_URL?: string;
}

/** Only what the code needs from the execution context, so Hono's and the runtime's both fit. */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

type WorkerEnv = Env;
declare global {
  namespace Cloudflare {
    // Types `env` from "cloudflare:workers" in tests.
    interface Env extends WorkerEnv {}
  }
}
