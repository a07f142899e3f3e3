import type { Context } from "hono";

interface ProblemKind {
  status: number;
  /** The same for every occurrence of the code (RFC 9457 `title`). */
  title: string;
  /** What a client should make of it: shown in the OpenAPI document and /docs. */
  meaning: string;
  /** A typical `detail`, for the documented example bodies. */
  example: string;
}

/**
 * Every problem the service can answer with. The code decides the status, so a
 * thrower names the code only and the two cannot disagree; the OpenAPI document
 * and /docs are generated from this table too.
 */
export const PROBLEMS = {
  missing_credentials: {
    status: 401,
    title: "Missing credentials",
    meaning: "No Authorization header, or not `Bearer <token>`. Send the session token or API key.",
    example: "Send Authorization: Bearer <token>.",
  },
  invalid_credentials: {
    status: 401,
    title: "Invalid credentials",
    meaning: "Unknown, malformed or mistyped API key (bad checksum), or a session token that is not valid. Check what you send.",
    example: "The API key is not recognised.",
  },
  revoked_api_key: {
    status: 401,
    title: "API key revoked",
    meaning: "The API key was revoked. Revocation is final: create a new key.",
    example: "The API key has been revoked.",
  },
  expired_credentials: {
    status: 401,
    title: "Credentials expired",
    meaning: "The API key's expiresAt has passed (or its roll overlap ended), or the session expired. Use the new key or sign in again.",
    example: "The API key has expired.",
  },
  invalid_signature: {
    status: 401,
    title: "Invalid signature",
    meaning: "A secret scanning report whose signature is missing or does not verify with the sender's public key. Nothing was done.",
    example: "The report's signature does not verify.",
  },
  insufficient_scope: {
    status: 403,
    title: "Insufficient scope",
    meaning: "The API key lacks the scope the route needs; `requiredScope` names it.",
    example: "This API key lacks the sources:write scope.",
  },
  ip_not_allowed: {
    status: 403,
    title: "IP address not allowed",
    meaning: "The API key has an IP allowlist and the call came from an address outside it.",
    example: "This API key may not be used from this address.",
  },
  forbidden: {
    status: 403,
    title: "Forbidden",
    meaning: "A member session called a key route; only workspace admins manage keys.",
    example: "Only workspace admins can manage API keys.",
  },
  invalid_request: {
    status: 400,
    title: "Invalid request",
    meaning: "The body, query or path is not valid, or the JSON is malformed; `errors` lists each bad field.",
    example: "The request body is not valid.",
  },
  not_found: {
    status: 404,
    title: "Not found",
    meaning: "No such route, or no such resource in this workspace (another workspace's resources look the same).",
    example: "No such resource in this workspace.",
  },
  method_not_allowed: {
    status: 405,
    title: "Method not allowed",
    meaning: "The path exists but not with this method; the Allow header lists the methods.",
    example: "Use GET, HEAD on this route.",
  },
  conflict: {
    status: 409,
    title: "Conflict",
    meaning: "The key's state does not allow this: it is revoked, or it was already rolled.",
    example: "This API key is revoked; it cannot be changed.",
  },
  policy_violation: {
    status: 422,
    title: "Policy violation",
    meaning:
      "The key the request would make or change breaks the workspace's key policy (`GET /v1/key-policy`): `errors` names each field and the rule it breaks, with its limit. Nothing was done.",
    example: "The key breaks the workspace's key policy; errors names each field and rule.",
  },
  payload_too_large: {
    status: 413,
    title: "Payload too large",
    meaning: "The request body is larger than the route accepts (1 MiB; 1 000 tokens for a secret scanning report).",
    example: "The request body exceeds 1048576 bytes.",
  },
  unsupported_media_type: {
    status: 415,
    title: "Unsupported media type",
    meaning: "The body is not sent as `Content-Type: application/json`.",
    example: "Send the body as JSON with Content-Type: application/json.",
  },
  rate_limited: {
    status: 429,
    title: "Rate limit exceeded",
    meaning:
      "The API key's own rate limit is used up for this period; wait `Retry-After` seconds. The RateLimit headers say how much is left.",
    example: "This API key's rate limit of 100 calls per 60 seconds is used up.",
  },
  too_many_requests: {
    status: 429,
    title: "Too many requests",
    meaning: "Too many failed authentications from this client; wait `Retry-After` seconds.",
    example: "Too many failed authentications from this address; retry in 60 seconds with a valid credential.",
  },
  unavailable: {
    status: 503,
    title: "Service unavailable",
    meaning:
      "Storage (or a service the call needs) is unreachable; nothing was done and no request is let through unverified. Retry after `Retry-After`.",
    example: "Storage is unreachable; the request was not processed. Retry shortly.",
  },
  internal_error: {
    status: 500,
    title: "Internal error",
    meaning: "An unexpected failure on our side. Retry; report it with the requestId if it persists.",
    example: "Something went wrong on our side.",
  },
} as const satisfies Record<string, ProblemKind>;

export type ProblemCode = keyof typeof PROBLEMS;
export const PROBLEM_CODES = Object.keys(PROBLEMS) as [ProblemCode, ...ProblemCode[]];

export interface FieldError {
  path: string;
  message: string;
  /** For policy_violation: the key policy's rule the field breaks, by its name in the policy. */
  rule?: string;
}

export interface ProblemExtra {
  errors?: FieldError[];
  requiredScope?: string;
}

/**
 * A failure with a client-visible meaning. Thrown anywhere on the request
 * path; the app's error handler is the one place that renders it. `reason`
 * is for the log only and never reaches the client.
 */
export class Problem extends Error {
  readonly status: number;

  constructor(
    readonly code: ProblemCode,
    readonly detail: string = PROBLEMS[code].example,
    readonly extra: ProblemExtra = {},
    readonly headers: Record<string, string> = {},
    readonly reason?: string,
  ) {
    super(detail);
    this.name = "Problem";
    this.status = PROBLEMS[code].status;
  }
}

export const notFound = (detail = "No such resource in this workspace.") => new Problem("not_found", detail);
export const unavailable = (detail: string = PROBLEMS.unavailable.example, reason?: string) =>
  new Problem("unavailable", detail, {}, { "Retry-After": "1" }, reason);
export const invalidRequest = (detail: string, errors: FieldError[] = []) => new Problem("invalid_request", detail, { errors });

/** Where the API reference is served; each problem's `type` points at the row of this page that explains its code. */
export const REFERENCE_PATH = "/docs";
/** The id of a code's row on the reference page. */
export const errorAnchor = (code: string) => `error-${code}`;
/** A problem's `type`: the reference page of the service that answered, at the row of its code (it resolves). */
export const problemType = (origin: string, code: ProblemCode) => `${origin}${REFERENCE_PATH}#${errorAnchor(code)}`;

/**
 * The body of a problem answer. `origin` is the origin the request was sent
 * to (the service's own), so that `type` resolves; `requestId` is the
 * request's, also sent as X-Request-Id.
 */
export function problemBody(p: Problem, requestId: string, origin: string) {
  return {
    type: problemType(origin, p.code),
    title: PROBLEMS[p.code].title,
    status: p.status,
    detail: p.detail,
    code: p.code,
    ...(p.status === 400 || p.code === "policy_violation" ? { errors: p.extra.errors ?? [] } : {}),
    ...(p.extra.requiredScope ? { requiredScope: p.extra.requiredScope } : {}),
    // The same id as the X-Request-Id header and the request's log line, so a
    // user's report of an error can be matched to what the service logged.
    requestId,
  };
}

// RFC 6750 §3: every 401 to a bearer client names the scheme; `invalid_signature`
// is for GitHub's webhook, which authenticates by signature, not by bearer token.
const NO_CHALLENGE: ReadonlySet<ProblemCode> = new Set(["invalid_signature"]);

/** The headers of a problem's answer: its own (Retry-After, RateLimit…), the media type, and the bearer challenge of a 401. */
export function problemHeaders(p: Problem): Headers {
  const headers = new Headers(p.headers);
  headers.set("Content-Type", "application/problem+json");
  headers.set("Cache-Control", "no-store");
  if (p.status === 401 && !NO_CHALLENGE.has(p.code)) headers.set("WWW-Authenticate", `Bearer error="invalid_token"`);
  if (p.code === "missing_credentials") headers.set("WWW-Authenticate", "Bearer");
  if (p.code === "insufficient_scope")
    headers.set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="${p.extra.requiredScope}"`);
  return headers;
}

export function problemResponse(c: Context, p: Problem): Response {
  c.set("outcome", p.code);
  // The request context (http/request-context.ts), the first layer of both apps, set the id before anything could throw.
  const body = problemBody(p, c.get("requestId") as string, new URL(c.req.url).origin);
  return c.body(JSON.stringify(body), p.status as 400, Object.fromEntries(problemHeaders(p)));
}
