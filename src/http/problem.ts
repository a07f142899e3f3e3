import type { Context } from "hono";

export type ProblemCode =
  | "missing_credentials"
  | "invalid_credentials"
  | "revoked_api_key"
  | "expired_credentials"
  | "insufficient_scope"
  | "forbidden"
  | "invalid_request"
  | "not_found"
  | "method_not_allowed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "too_many_requests"
  | "unavailable"
  | "internal_error";

export interface FieldError {
  path: string;
  message: string;
}

const TITLES: Record<ProblemCode, string> = {
  missing_credentials: "Missing credentials",
  invalid_credentials: "Invalid credentials",
  revoked_api_key: "API key revoked",
  expired_credentials: "Credentials expired",
  insufficient_scope: "Insufficient scope",
  forbidden: "Forbidden",
  invalid_request: "Invalid request",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  too_many_requests: "Too many requests",
  unavailable: "Service unavailable",
  internal_error: "Internal error",
};

/**
 * A failure with a client-visible meaning. Thrown anywhere on the request
 * path; the app's error handler is the one place that renders it.
 */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: ProblemCode,
    readonly detail: string,
    readonly extra: { errors?: FieldError[]; requiredScope?: string } = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = "Problem";
  }
}

export const unauthorized = (code: ProblemCode, detail: string) => new Problem(401, code, detail);
export const notFound = (detail = "No such resource in this workspace.") =>
  new Problem(404, "not_found", detail);
export const unavailable = () =>
  new Problem(503, "unavailable", "Storage is unreachable; the request was not processed. Retry shortly.", {}, {
    "Retry-After": "1",
  });
export const invalidRequest = (detail: string, errors: FieldError[] = []) =>
  new Problem(400, "invalid_request", detail, { errors });

export function problemBody(p: Problem, requestId?: string) {
  return {
    type: `https://owlish.bot/docs/errors#${p.code}`,
    title: TITLES[p.code],
    status: p.status,
    detail: p.detail,
    code: p.code,
    ...(p.status === 400 ? { errors: p.extra.errors ?? [] } : {}),
    ...(p.extra.requiredScope ? { requiredScope: p.extra.requiredScope } : {}),
    // The same id as the X-Request-Id header and the request's log line, so a
    // user's report of an error can be matched to what the service logged.
    ...(requestId ? { requestId } : {}),
  };
}

export function problemResponse(c: Context, p: Problem): Response {
  const headers = new Headers(p.headers);
  headers.set("Content-Type", "application/problem+json");
  headers.set("Cache-Control", "no-store");
  // RFC 6750: every 401 names the scheme the client should use.
  if (p.status === 401) headers.set("WWW-Authenticate", `Bearer error="invalid_token"`);
  if (p.code === "missing_credentials") headers.set("WWW-Authenticate", "Bearer");
  if (p.code === "insufficient_scope")
    headers.set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="${p.extra.requiredScope}"`);
  c.set("outcome", p.code);
  return c.body(JSON.stringify(problemBody(p, c.get("requestId"))), p.status as 400, Object.fromEntries(headers));
}
