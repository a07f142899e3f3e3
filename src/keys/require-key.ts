import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { bearerToken, invalidCredentials } from "../http/bearer";
import { Problem, unauthorized } from "../http/problem";
import { reportUse, writeUseDirectly } from "../usage/report-use";
import { isWellFormedKey } from "./format";
import { hashKey } from "./hash";
import { findKeyByHash } from "./lookup";
import type { Scope } from "./scopes";

/**
 * Authenticates an API key and, when `scope` is given, requires it.
 * Order matters: shape and checksum first, so typos and made-up keys are
 * refused without any storage read; then the lookup; then state; then scope.
 */
export function requireKey(scope?: Scope) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const presented = bearerToken(c.req.header("Authorization"));
    if (!isWellFormedKey(presented)) throw invalidCredentials("The API key is malformed or mistyped.");

    const key = await findKeyByHash(c.env, hashKey(presented), c.executionCtx);
    if (!key) throw invalidCredentials("The API key is not recognised.");
    c.set("principal", { workspaceId: key.workspaceId, keyId: key.id });
    if (key.revokedAt !== null) throw unauthorized("revoked_api_key", "The API key has been revoked.");
    if (key.expiresAt !== null && key.expiresAt <= Date.now()) {
      throw unauthorized("expired_credentials", "The API key has expired.");
    }

    // An authenticated call counts as a use even if it lacks the scope: it
    // tells the admin which integration still holds the key.
    if (c.env.BENCH_DISABLE_CACHE === "1") await writeUseDirectly(c.env, key.id);
    else reportUse(c.env, c.executionCtx, key.workspaceId, key.id);

    if (scope && !key.scopes.includes(scope)) {
      throw new Problem(403, "insufficient_scope", `This API key lacks the ${scope} scope.`, { requiredScope: scope });
    }
    c.set("apiKey", key);
    await next();
  });
}
