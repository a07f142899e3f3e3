import type { ProblemCode } from "./problem";

/**
 * Every `code` a problem response can carry, its status and what a client
 * should make of it. Typed as a Record over ProblemCode, so a new code does not
 * compile until it is documented here; the OpenAPI document and /docs show it.
 */
export const ERROR_CODES: Record<ProblemCode, { status: number; meaning: string }> = {
  missing_credentials: { status: 401, meaning: "No Authorization header, or not `Bearer <token>`. Send the session token or API key." },
  invalid_credentials: {
    status: 401,
    meaning: "Unknown, malformed or mistyped API key (bad checksum), or a session token that is not valid. Check what you send.",
  },
  revoked_api_key: { status: 401, meaning: "The API key was revoked. Revocation is final: create a new key." },
  expired_credentials: { status: 401, meaning: "The API key's expiresAt has passed, or the session expired. Create a new key or sign in again." },
  insufficient_scope: { status: 403, meaning: "The API key lacks the scope the route needs; `requiredScope` names it." },
  forbidden: { status: 403, meaning: "A member session called a key route; only workspace admins manage keys." },
  invalid_request: { status: 400, meaning: "The body, query or path is not valid, or the JSON is malformed; `errors` lists each bad field." },
  not_found: { status: 404, meaning: "No such route, or no such resource in this workspace (another workspace's resources look the same)." },
  method_not_allowed: { status: 405, meaning: "The path exists but not with this method; the Allow header lists the methods." },
  payload_too_large: { status: 413, meaning: "The request body is larger than 1 MiB." },
  unsupported_media_type: { status: 415, meaning: "The body is not sent as `Content-Type: application/json`." },
  too_many_requests: { status: 429, meaning: "Too many failed authentications from this client; wait `Retry-After` seconds." },
  unavailable: { status: 503, meaning: "Storage is unreachable; nothing was done and no request is let through unverified. Retry after `Retry-After`." },
  internal_error: { status: 500, meaning: "An unexpected failure on our side. Retry; report it with the requestId if it persists." },
};

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ProblemCode, ...ProblemCode[]];

/** `x-enumDescriptions` for the Problem `code` enum: "401: meaning". */
export const errorCodeDescriptions = Object.fromEntries(
  Object.entries(ERROR_CODES).map(([code, { status, meaning }]) => [code, `${status}: ${meaning}`]),
);
