import type { Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../context";
import { errorMessage, log } from "../lib/log";
import { Problem, problemResponse } from "./problem";

/** The one place where any failure becomes an RFC 9457 problem response. */
export function onError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof Problem) {
    // The log-only reason says what the client is not told (e.g. which setting is missing).
    if (error.reason) log("warn", "problem_reason", { requestId: c.get("requestId"), code: error.code, reason: error.reason });
    return problemResponse(c, error);
  }
  if (error instanceof HTTPException) return problemResponse(c, fromHttpException(error));
  // Unexpected: log what happened (never request headers or bodies) and say little.
  log("error", "unhandled_error", { route: c.req.routePath, method: c.req.method, error: errorMessage(error) });
  return problemResponse(c, new Problem("internal_error", "Something went wrong on our side."));
}

function fromHttpException(error: HTTPException): Problem {
  switch (error.status) {
    case 400:
      return new Problem("invalid_request", "The request body is not valid JSON.", {
        errors: [{ path: "", message: "Malformed JSON" }],
      });
    case 413:
      return new Problem("payload_too_large", "The request body is too large.");
    case 415:
      return new Problem("unsupported_media_type", "Send the body as JSON with Content-Type: application/json.");
    default:
      return new Problem(error.status >= 500 ? "unavailable" : "invalid_request", error.message || "Request refused.");
  }
}

/** 404 for unknown paths; 405 with Allow for known paths and the wrong method. */
export function notFoundOrWrongMethod(app: Hono<AppEnv>) {
  let table: { method: string; pattern: RegExp }[] | undefined;
  return (c: Context<AppEnv>): Response => {
    table ??= app.routes
      .filter((r) => r.method !== "ALL" && !r.path.includes("*")) // wildcards are middleware, not endpoints
      .map((r) => ({ method: r.method, pattern: new RegExp(`^${r.path.replace(/:[^/]+/g, "[^/]+")}/?$`) }));
    const allowed = [...new Set(table.filter((r) => r.pattern.test(c.req.path)).map((r) => r.method))];
    if (allowed.length === 0) return problemResponse(c, new Problem("not_found", "No such route."));
    if (allowed.includes("GET")) allowed.push("HEAD");
    return problemResponse(
      c,
      new Problem("method_not_allowed", `Use ${allowed.join(", ")} on this route.`, {}, { Allow: allowed.join(", ") }),
    );
  };
}
