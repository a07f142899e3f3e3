import type { Env } from "./env";
import type { KeyStore } from "./keys/verify/key-store";
import type { VerifiedKey } from "./keys/verify/verified-key";
import type { AppOptions } from "./options";
import type { KeyRateLimiter } from "./ratelimit/types";
import type { UseReporter } from "./usage/use-reporter";

/*
 * The types a request carries from layer to layer. A leaf: it imports only
 * types, from modules that never import it back, so http/, auth/, keys/ and
 * routes/ can all depend on it without depending on each other.
 */

/** A verified console session: the claims of its token (src/auth/session.ts verifies them). */
export interface Session {
  /** User id. */
  sub: string;
  /** Workspace id. */
  ws: string;
  role: "admin" | "member";
  exp: number;
  iat: number;
  iss?: string | undefined;
  aud?: string | string[] | undefined;
}

/** Who the credential turned out to be, for the request's log line (ids only, never the credential). */
export interface Principal {
  workspaceId: string;
  keyId?: string;
  userId?: string;
}

/**
 * The parts the app is built from that hold state or reach storage. The
 * worker entry assembles the production ones; the bench and the tests
 * assemble their own (a store that asks D1 every time, a fresh memo per test).
 */
export interface Services {
  keys: KeyStore;
  usage: UseReporter;
  /**
   * Counts and decides the calls of keys that have a rate limit. It holds
   * the isolate's counters, so one instance serves every request of an
   * isolate: production syncs it through the RateLimitCounter Durable
   * Objects; a test isolate gets its own.
   */
  limiter: KeyRateLimiter;
}

/** Everything an app (full or edge) is built from. */
export interface AppParts {
  options: AppOptions;
  services: Services;
}

/** Hono's environment: bindings plus what middleware hands to handlers. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** The app's parts and options, set first of all by the request context. */
    services: Services;
    options: AppOptions;
    session: Session;
    apiKey: VerifiedKey;
    /** Set first by the request context: echoed in X-Request-Id, problem+json and the log line. */
    requestId: string;
    principal: Principal;
    /** The problem code of an error response, for the request's log line. */
    outcome: string;
  };
}
