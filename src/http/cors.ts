import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../context";

/**
 * CORS for a console served from another origin, allowing exactly the given
 * origins (lower case, no trailing slash). Credentials are bearer tokens sent
 * by the page itself, so no cookies and no Access-Control-Allow-Credentials;
 * an origin not in the list gets no Access-Control-Allow-Origin header, and
 * the browser keeps the response from that page. Preflight requests (OPTIONS)
 * are answered here with 204.
 */
export function apiCors(allowed: ReadonlySet<string>) {
  const handler = cors({
    origin: (origin) => (origin && allowed.has(origin.toLowerCase()) ? origin : null),
    allowMethods: ["GET", "POST", "PATCH", "DELETE"],
    allowHeaders: ["Authorization", "Content-Type"],
    exposeHeaders: ["WWW-Authenticate", "Retry-After", "Allow", "X-Request-Id", "RateLimit", "RateLimit-Policy"],
    maxAge: 600,
    credentials: false,
  });
  return createMiddleware<AppEnv>((c, next) =>
    // Scripts and servers send no Origin: nothing to allow, so skip the work on
    // the hot path. (Responses under /v1 are no-store, so no cache needs Vary.)
    c.req.header("Origin") ? handler(c, next) : next(),
  );
}
