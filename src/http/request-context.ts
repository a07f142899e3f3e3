import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { log } from "./log";

export const REQUEST_ID_HEADER = "X-Request-Id";

/**
 * The outermost middleware: gives every request an id, stamps it on every
 * response (success, problem, 404, CORS preflight alike), and writes one
 * structured log line per request.
 *
 * The id is always generated here, never taken from the client's own
 * X-Request-Id: a client-chosen value would be written to our logs verbatim,
 * and a client could put a key or token there.
 *
 * The log line holds ids only (request, key, user, workspace), the route
 * *pattern* rather than the path (a mistaken client may put a key in a path),
 * the status and the outcome. Never a header, a query, a body or a credential.
 */
export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const requestId = crypto.randomUUID();
  c.set("requestId", requestId);
  const started = Date.now();
  await next();
  c.header(REQUEST_ID_HEADER, requestId);
  const status = c.res.status;
  const principal = c.get("principal");
  log(status >= 500 ? "error" : "info", "request", {
    requestId,
    method: c.req.method,
    route: routePattern(c),
    status,
    outcome: status < 400 ? "ok" : (c.get("outcome") ?? "error"),
    keyId: principal?.keyId,
    userId: principal?.userId,
    workspaceId: principal?.workspaceId,
    durationMs: Date.now() - started,
  });
});

/** The registered path of the endpoint that answered, e.g. `/v1/sources/:id`; "unmatched" for 404s. */
function routePattern(c: Context<AppEnv>): string {
  const endpoint = matchedRoutes(c).findLast((r) => r.method !== "ALL");
  return endpoint?.path ?? "unmatched";
}

/** `Cache-Control: no-store` unless a route chose otherwise. */
export const noStore = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
});
