import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import { BODY_PROBLEMS, COMMON_PROBLEMS, problemResponses } from "../http/openapi";
import type { ProblemCode } from "../http/problem";
import type { Scope } from "../keys/scopes";
import { RATE_LIMIT_HEADER, RATE_LIMIT_POLICY_HEADER } from "../ratelimit/headers";
import { requireKey } from "./key-credential";
import { requireAdminSession } from "./session";

/** A route as an operation file writes it: everything but its security and middleware, which come from its auth kind. */
export type RouteInput = Omit<RouteConfig, "security" | "middleware">;

const ADMIN_PROBLEMS = ["missing_credentials", "invalid_credentials", "expired_credentials", "forbidden", "too_many_requests"] as const;
const KEY_PROBLEMS = [
  "missing_credentials",
  "invalid_credentials",
  "revoked_api_key",
  "expired_credentials",
  "ip_not_allowed",
  "rate_limited",
  "too_many_requests",
] as const;

const problemsOf = (route: RouteInput, auth: readonly ProblemCode[], extra: readonly ProblemCode[]) =>
  problemResponses([...auth, ...(route.request?.body ? BODY_PROBLEMS : ["invalid_request" as const]), ...COMMON_PROBLEMS, ...extra]);

/**
 * The headers every answer to a rate-limited key carries, declared on each
 * key route's responses. Not on 401s: those are given before the key is
 * known to be valid, so there is no key whose quota they could describe.
 */
const RATE_LIMIT_RESPONSE_HEADERS = {
  [RATE_LIMIT_POLICY_HEADER]: {
    description:
      "Only for a key with a rate limit (and not when its IP allowlist refused the call): the key's quota, `q` calls per window of `w` seconds " +
      "(draft-ietf-httpapi-ratelimit-headers-11).",
    schema: { type: "string", example: '"key";q=100;w=60' },
  },
  [RATE_LIMIT_HEADER]: {
    description:
      "Only for a key with a rate limit (and not when its IP allowlist refused the call): `r` calls left in the current window after this one, " +
      "and `t` seconds until the window ends and the count starts again. Every call made with the key counts, refused ones included.",
    schema: { type: "string", example: '"key";r=42;t=17' },
  },
} as const;

type Responses = NonNullable<RouteConfig["responses"]>;

function withRateLimitHeaders<T extends Responses>(responses: T): T {
  const out: Responses = {};
  for (const [status, response] of Object.entries(responses)) {
    out[status] =
      status === "401" || "$ref" in response ? response : { ...response, headers: { ...RATE_LIMIT_RESPONSE_HEADERS, ...response.headers } };
  }
  return out as T;
}

/**
 * A route for a workspace admin's console session. The middleware that
 * enforces it and the OpenAPI `security` entry and error responses that
 * document it come from here together, so the document cannot drift from
 * what is enforced.
 */
export function adminRoute<const R extends RouteInput>(route: R, problems: readonly ProblemCode[] = []) {
  return createRoute({
    ...route,
    security: [{ sessionToken: [] }],
    middleware: [requireAdminSession] as const,
    responses: { ...problemsOf(route, ADMIN_PROBLEMS, problems), ...route.responses },
  });
}

/**
 * A route for an API key; with `scope`, the key must hold it. As with
 * adminRoute, enforcement and documentation come from one place, including
 * the per-key guard rails requireKey enforces (ip_not_allowed, rate_limited
 * and the RateLimit headers).
 */
export function keyRoute<const R extends RouteInput>(
  scope: Scope | null,
  route: R,
  problems: readonly ProblemCode[] = [],
  { guardRails = true }: KeyRouteOptions = {},
) {
  const note = scope ? `Requires an API key with the \`${scope}\` scope.` : "Any valid API key may call it; no scope is needed.";
  const rails = guardRails ? "" : " The key's own IP allowlist and rate limit do not apply to this call.";
  const auth = guardRails ? KEY_PROBLEMS : KEY_PROBLEMS.filter((code) => code !== "ip_not_allowed" && code !== "rate_limited");
  const responses = {
    ...problemsOf(route, scope ? [...auth, "insufficient_scope"] : auth, problems),
    ...route.responses,
  };
  return createRoute({
    ...route,
    description: `${route.description ?? ""} ${note}${rails}`.trim(),
    security: [{ apiKey: scope ? [scope] : [] }],
    middleware: [requireKey(scope ?? undefined, { guardRails })] as const,
    responses: guardRails ? withRateLimitHeaders(responses) : responses,
  });
}

export interface KeyRouteOptions {
  /**
   * false: the key's guard rails (IP allowlist, rate limit) are not checked.
   * Only for what anyone holding the key must always be able to do: revoke it.
   */
  guardRails?: boolean;
}

/** A route that needs no credentials. */
export function openRoute<const R extends RouteInput>(route: R, problems: readonly ProblemCode[] = []) {
  return createRoute({ ...route, security: [], responses: { ...(problems.length ? problemResponses(problems) : {}), ...route.responses } });
}
