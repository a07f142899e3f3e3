import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import type { AppEnv, Services } from "../context";
import { log } from "../lib/log";
import type { AppOptions } from "../options";

const REQUEST_ID_HEADER = "X-Request-Id";

/**
 * The outermost middleware: gives every request an id, stamps it and the
 * headers every answer carries (nosniff; no-store under /v1) on every response
 * (success, problem, 404, CORS preflight alike), and writes one structured log
 * line per request. One layer rather than several: each costs microseconds on
 * the key-verification hot path.
 *
 * The id is always generated here, never taken from the client's own
 * X-Request-Id: a client-chosen value would be written to our logs verbatim,
 * and a client could put a key or token there.
 *
 * The log line holds ids only (request, key, user, workspace), the route
 * *pattern* rather than the path (a mistaken client may put a key in a path),
 * the status and the outcome. Never a header, a query, a body or a credential.
 */
export function requestContext(options: AppOptions, services: Services) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const requestId = crypto.randomUUID();
    c.set("requestId", requestId);
    c.set("options", options);
    c.set("services", services);
    const started = Date.now();
    await next();
    // On a finished response, hono's c.header() copies the whole Response on
    // every call (a response from fetch, such as the console page's asset, has
    // read-only headers). One copy is enough: the first header goes through
    // c.header(), the others onto that copy's headers.
    c.header(REQUEST_ID_HEADER, requestId);
    const headers = c.res.headers;
    headers.set("X-Content-Type-Options", "nosniff");
    // Every /v1 answer is for one authenticated caller (key records, the calling
    // key, sources, audit events): no browser or shared cache may keep a copy.
    if (c.req.path.startsWith("/v1/") && !headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
    const status = c.res.status;
    // At high volume, logging every success is the largest cost left on the hot
    // path (and in `wrangler dev`, which streams each line to the terminal, it
    // halves throughput): LOG_SUCCESSES = "false" keeps only refusals and errors.
    if (status < 400 && !options.logSuccesses) return;
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
}

/** The registered path of the endpoint that answered, e.g. `/v1/sources/:id`; "unmatched" for 404s. */
function routePattern(c: Context<AppEnv>): string {
  const endpoint = matchedRoutes(c).findLast((r) => r.method !== "ALL" && !r.path.includes("*"));
  return endpoint?.path ?? "unmatched";
}
