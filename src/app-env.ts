import type { Env } from "./env";
import type { Session } from "./http/session";
import type { VerifiedKey } from "./keys/verify/verified-key";
import type { AppOptions } from "./options";
import type { Services } from "./services";

export interface Principal {
  workspaceId: string;
  keyId?: string;
  userId?: string;
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
    /** Who the credential turned out to be, for the request's log line (ids only, never the credential). */
    principal: Principal;
    /** The problem code of an error response, for the request's log line. */
    outcome: string;
  };
}
