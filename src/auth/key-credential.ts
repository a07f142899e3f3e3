import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../context";
import { Problem } from "../http/problem";
import { hashKey } from "../keys/format/hash";
import { isWellFormedKey } from "../keys/format/key";
import { RAILS } from "../keys/guard-rails";
import type { KeyCall } from "../keys/guard-rails/call";
import type { Scope } from "../keys/scopes";
import type { VerifiedKey } from "../keys/verify/verified-key";
import { bearerToken, invalidCredentials } from "./bearer";
import { authRefusal } from "./failed-auth-throttle";

/**
 * Authenticates an API key and, when `scope` is given, requires it.
 * Order matters: shape and checksum first, so typos and made-up keys are
 * refused without any storage read; then the lookup; then state; then the
 * key's guard rails whose refusal is not a use (IP allowlist); then the use is
 * reported; then the rails whose refusal is (rate limit); then scope.
 */
export function requireKey(scope?: Scope, { guardRails = true }: { guardRails?: boolean } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    let key: VerifiedKey;
    try {
      const presented = bearerToken(c.req.header("Authorization"));
      if (!isWellFormedKey(presented)) throw invalidCredentials("The API key is malformed or mistyped.");
      const found = await c.var.services.keys.find(c.env, hashKey(presented), c.executionCtx, c.req.url);
      if (!found) throw invalidCredentials("The API key is not recognised.");
      key = found;
      c.set("principal", { workspaceId: key.workspaceId, keyId: key.id });
      if (key.revokedAt !== null) throw new Problem("revoked_api_key", "The API key has been revoked.");
      if (key.expiresAt !== null && key.expiresAt <= Date.now()) {
        throw new Problem("expired_credentials", "The API key has expired.");
      }
    } catch (error) {
      throw await authRefusal(c, error);
    }

    const clientIp = c.req.header("CF-Connecting-IP");
    let call: KeyCall | undefined;
    for (const rail of guardRails ? BEFORE_USE : NONE) {
      const value = key[rail.field];
      if (rail.active(value)) rail.check(value, (call ??= keyCall(c, key, clientIp)));
    }

    // An authenticated call counts as a use even if it lacks the scope or is
    // over the rate limit: it tells the admin which integration still holds the key.
    await c.var.services.usage.report(c.env, c.executionCtx, {
      workspaceId: key.workspaceId,
      keyId: key.id,
      at: Date.now(),
      ip: clientIp?.slice(0, 64) ?? null,
      country: countryOf(c.req.raw),
    });

    for (const rail of guardRails ? AFTER_USE : NONE) {
      const value = key[rail.field];
      if (rail.active(value)) rail.check(value, (call ??= keyCall(c, key, clientIp)));
    }

    if (scope && !key.scopes.includes(scope)) {
      throw new Problem("insufficient_scope", `This API key lacks the ${scope} scope.`, { requiredScope: scope });
    }
    c.set("apiKey", key);
    await next();
  });
}

// The guard rails (keys/guard-rails.ts), split once by when they run.
const BEFORE_USE = RAILS.filter((rail) => !rail.refusalIsAUse);
const AFTER_USE = RAILS.filter((rail) => rail.refusalIsAUse);
const NONE: typeof RAILS = [];

function keyCall(c: Context<AppEnv>, key: VerifiedKey, clientIp: string | undefined): KeyCall {
  return {
    keyId: key.id,
    budgetId: key.budgetId,
    clientIp,
    limiter: c.var.services.limiter,
    ctx: c.executionCtx,
    env: c.env,
    header: (name, value) => c.header(name, value),
  };
}

/** Cloudflare's ISO 3166 country of the caller; absent locally and in tests. */
function countryOf(request: Request): string | null {
  const country = (request as Request & { cf?: { country?: unknown } }).cf?.country;
  return typeof country === "string" && /^[A-Z0-9]{2}$/.test(country) ? country : null;
}
