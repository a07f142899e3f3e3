import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";

/**
 * The origins named in `CORS_ALLOWED_ORIGINS` (comma-separated, e.g.
 * "https://console.example.com,http://localhost:5173"). Empty or unset: none.
 * A trailing slash is ignored; scheme and host compare case-insensitively,
 * as browsers send the Origin header in lower case.
 */
export function allowedOrigins(value: string | undefined): Set<string> {
  return new Set(
    (value ?? "")
      .split(",")
      .map((o) => o.trim().replace(/\/+$/, "").toLowerCase())
      .filter((o) => o !== "" && o !== "*" && o !== "null"),
  );
}

type Middleware = ReturnType<typeof cors>;
const byConfig = new Map<string, Middleware>();

function corsFor(raw: string): Middleware {
  const allowed = allowedOrigins(raw);
  return cors({
    origin: (origin) => (origin && allowed.has(origin.toLowerCase()) ? origin : null),
    allowMethods: ["GET", "POST", "PATCH", "DELETE"],
    allowHeaders: ["Authorization", "Content-Type"],
    exposeHeaders: ["WWW-Authenticate", "Retry-After", "Allow", "X-Request-Id"],
    maxAge: 600,
    credentials: false,
  });
}

/**
 * CORS for a console served from another origin. Credentials are bearer
 * tokens sent by the page itself, so no cookies and no
 * Access-Control-Allow-Credentials; an origin not in the list gets no
 * Access-Control-Allow-Origin header, and the browser keeps the response from
 * that page. Preflight requests (OPTIONS) are answered here with 204.
 */
export const apiCors = createMiddleware<AppEnv>((c, next) => {
  // Scripts and servers send no Origin: nothing to allow, so skip the work on
  // the hot path. (Responses under /v1 are no-store, so no cache needs Vary.)
  if (!c.req.header("Origin")) return next();
  const raw = c.env.CORS_ALLOWED_ORIGINS ?? "";
  let middleware = byConfig.get(raw);
  if (!middleware) byConfig.set(raw, (middleware = corsFor(raw)));
  return middleware(c, next);
});
