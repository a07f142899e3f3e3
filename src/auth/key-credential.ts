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
import { type Outcome, refusalOutcome } from "../usage/outcomes";
import { loggedPath } from "../usage/request-path";
import { bearerToken, invalidCredentials } from "./bearer";
import { authRefusal } from "./failed-auth-throttle";

/**
 * Authenticates an API key and, when `scope` is given, requires it.
 * Order matters: shape and checksum first, so typos and made-up keys are
 * refused without any storage read; then the lookup; then state; then the
 * key's guard rails whose refusal is not a use (IP allowlist); then the rails
 * whose refusal is (rate limit); then scope.
 *
 * Every call presented with a known key is reported once, served or refused,
 * with its outcome and the status of its answer (for a served call, once the
 * route has answered): the key's last use and daily counts, and its request
 * log. An unknown key has no key to report under.
 */
export function requireKey(scope?: Scope, { guardRails = true }: { guardRails?: boolean } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const at = Date.now();
    let key: VerifiedKey | undefined;
    try {
      const presented = bearerToken(c.req.header("Authorization"));
      if (!isWellFormedKey(presented)) throw invalidCredentials("The API key is malformed or mistyped.");
      const found = await c.var.services.keys.find(c.env, hashKey(presented), c.executionCtx, c.req.url);
      if (!found) throw invalidCredentials("The API key is not recognised.");
      key = found;
      c.set("principal", { workspaceId: key.workspaceId, keyId: key.id });
      if (key.revokedAt !== null) throw new Problem("revoked_api_key", "The API key has been revoked.");
      if (key.expiresAt !== null && key.expiresAt <= at) {
        throw new Problem("expired_credentials", "The API key has expired.");
      }
    } catch (error) {
      const refusal = await authRefusal(c, error);
      if (key) await reportRefusal(c, key, at, c.req.header("CF-Connecting-IP"), error, refusal);
      throw refusal;
    }

    const clientIp = c.req.header("CF-Connecting-IP");
    try {
      let call: KeyCall | undefined;
      for (const rail of guardRails ? RAILS_IN_ORDER : NONE) {
        const value = key[rail.field];
        if (rail.active(value)) rail.check(value, (call ??= keyCall(c, key, clientIp)));
      }
      if (scope && !key.scopes.includes(scope)) {
        throw new Problem("insufficient_scope", `This API key lacks the ${scope} scope.`, { requiredScope: scope });
      }
    } catch (error) {
      await reportRefusal(c, key, at, clientIp, error, error);
      throw error;
    }
    c.set("apiKey", key);
    try {
      await next();
    } catch (error) {
      // Only what the app's error handler did not turn into an answer gets here: the runtime answers 500.
      await report(c, key, at, clientIp, "ok", 500);
      throw error;
    }
    await report(c, key, at, clientIp, "ok", c.res.status);
  });
}

/** Reports a refused call: its outcome from the problem that refused it, its status from the answer given (which the throttle may have made a 429). */
function reportRefusal(c: Context<AppEnv>, key: VerifiedKey, at: number, clientIp: string | undefined, error: unknown, answer: unknown) {
  if (!(error instanceof Problem)) return;
  const outcome = refusalOutcome(error.code);
  if (outcome === null) return;
  return report(c, key, at, clientIp, outcome, answer instanceof Problem ? answer.status : error.status);
}

function report(c: Context<AppEnv>, key: VerifiedKey, at: number, clientIp: string | undefined, outcome: Outcome, status: number) {
  return c.var.services.usage.report(c.env, c.executionCtx, {
    workspaceId: key.workspaceId,
    keyId: key.id,
    at,
    ip: clientIp?.slice(0, 64) ?? null,
    country: countryOf(c.req.raw),
    outcome,
    method: c.req.method,
    path: loggedPath(c.req.path),
    status,
  });
}

// The guard rails (keys/guard-rails.ts): those whose refusal is not a use
// first, so that a call they refuse never reaches one that counts it (a
// leaked key used from outside its allowlist spends none of its rate limit).
const RAILS_IN_ORDER = [...RAILS.filter((rail) => !rail.refusalIsAUse), ...RAILS.filter((rail) => rail.refusalIsAUse)];
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

/** Cloudflare's ISO 3166 country of the caller (`request.cf`; `wrangler dev` offline fills in a placeholder, tests set their own). */
function countryOf(request: Request): string | null {
  const country = (request as Request & { cf?: { country?: unknown } }).cf?.country;
  return typeof country === "string" && /^[A-Z0-9]{2}$/.test(country) ? country : null;
}
