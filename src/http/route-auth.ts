import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import { requireKey } from "../keys/require-key";
import type { Scope } from "../keys/scopes";
import { BODY_PROBLEMS, COMMON_PROBLEMS, problemResponses } from "./openapi";
import type { ProblemCode } from "./problem";
import { requireAdminSession } from "./session";

type RouteInput = Omit<RouteConfig, "security" | "middleware">;

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
 * adminRoute, enforcement and documentation come from one place.
 */
export function keyRoute<const R extends RouteInput>(scope: Scope | null, route: R, problems: readonly ProblemCode[] = []) {
  const note = scope ? `Requires an API key with the \`${scope}\` scope.` : "Any valid API key may call it; no scope is needed.";
  return createRoute({
    ...route,
    description: `${route.description ?? ""} ${note}`.trim(),
    security: [{ apiKey: scope ? [scope] : [] }],
    middleware: [requireKey(scope ?? undefined)] as const,
    responses: { ...problemsOf(route, scope ? [...KEY_PROBLEMS, "insufficient_scope"] : KEY_PROBLEMS, problems), ...route.responses },
  });
}

/** A route that needs no credentials. */
export function openRoute<const R extends RouteInput>(route: R, problems: readonly ProblemCode[] = []) {
  return createRoute({ ...route, security: [], responses: { ...(problems.length ? problemResponses(problems) : {}), ...route.responses } });
}
