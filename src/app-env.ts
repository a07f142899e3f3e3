import type { Env } from "./env";
import type { Session } from "./http/session";
import type { VerifiedKey } from "./keys/verified-key";

/** Hono's environment: bindings plus what middleware hands to handlers. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    session: Session;
    apiKey: VerifiedKey;
  };
}
