import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import type { AppEnv } from "../app-env";
import { ERROR_CODE_LIST, ERROR_CODES, errorCodeDescriptions } from "./error-codes";
import { invalidRequest, Problem, problemBody, type FieldError, type ProblemCode } from "./problem";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ description: "A URI naming the kind of problem (RFC 9457); it ends in `#<code>`.", example: "https://owlish.bot/docs/errors#invalid_request" }),
    title: z.string().openapi({ description: "A short human summary of the kind of problem; the same for every occurrence of a code.", example: "Invalid request" }),
    status: z.number().int().openapi({ description: "The HTTP status code, repeated in the body.", example: 400 }),
    detail: z.string().openapi({ description: "What went wrong with this request, for people; do not parse it.", example: "The request body is not valid." }),
    code: z.enum(ERROR_CODE_LIST).openapi({
      description: "Stable machine-readable code; branch on this. Each code with its status and meaning is listed in `x-enumDescriptions`.",
      example: "invalid_request",
      "x-enumDescriptions": errorCodeDescriptions,
    }),
    errors: z
      .array(
        z.object({
          path: z.string().openapi({ description: "The field, dot-separated (`scopes.0`); empty for the body as a whole.", example: "name" }),
          message: z.string().openapi({ description: "Why the field was refused.", example: "Too small: expected string to have >=1 characters" }),
        }),
      )
      .optional()
      .openapi({ description: "For invalid_request: one entry per bad field.", example: [{ path: "name", message: "Too small: expected string to have >=1 characters" }] }),
    requiredScope: z.string().optional().openapi({ description: "For insufficient_scope: the scope the route needs.", example: "sources:write" }),
    requestId: z.string().optional().openapi({
      description: "The request's id, also sent as the X-Request-Id header. Quote it when reporting a problem.",
      example: "6f1c2a9e-4b7d-4e0a-9d3c-2b8f5e7a1c40",
    }),
  })
  .openapi("Problem");

/** A problem response, with an example body made exactly as the error handler makes one. */
const problem = (description: string, code: ProblemCode, detail: string, extra: ConstructorParameters<typeof Problem>[3] = {}) => ({
  description,
  content: {
    "application/problem+json": {
      schema: ProblemSchema,
      example: { ...problemBody(new Problem(ERROR_CODES[code].status, code, detail, extra)), requestId: "6f1c2a9e-4b7d-4e0a-9d3c-2b8f5e7a1c40" },
    },
  },
});

export const errorResponses = {
  400: problem("invalid_request: the body, query or JSON is not valid.", "invalid_request", "The request body is not valid.", {
    errors: [{ path: "name", message: "Too small: expected string to have >=1 characters" }],
  }),
  401: problem("missing_credentials, invalid_credentials, revoked_api_key or expired_credentials.", "revoked_api_key", "This API key was revoked."),
  403: problem("forbidden (member session) or insufficient_scope (key without the scope).", "insufficient_scope", "This API key lacks the sources:write scope.", {
    requiredScope: "sources:write",
  }),
  404: problem("not_found: no such resource in this workspace.", "not_found", "No such resource in this workspace."),
  429: problem("too_many_requests: too many failed authentications from this client IP; wait Retry-After seconds.", "too_many_requests", "Too many failed authentications. Retry later."),
  503: problem("unavailable: storage is unreachable; nothing was done. Retry.", "unavailable", "Storage is unreachable; the request was not processed. Retry shortly."),
} as const;

export const bodyErrorResponses = {
  ...errorResponses,
  413: problem("payload_too_large: the body exceeds the size limit.", "payload_too_large", "The request body exceeds 1048576 bytes."),
  415: problem("unsupported_media_type: send Content-Type: application/json.", "unsupported_media_type", "Send the body as JSON with Content-Type: application/json."),
} as const;

export function listSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      data: z.array(item).openapi({ description: "This page of items, newest first." }),
      nextCursor: z
        .string()
        .nullable()
        .openapi({ description: "Pass as ?cursor= for the next page; null on the last page.", example: "eyJ0IjoxNzY0MTUxMjAwMDAwLCJpZCI6ImtleV8zayJ9" }),
    })
    .openapi(name);
}

export const limitQuery = z.coerce
  .number()
  .int()
  .min(1)
  .max(100)
  .default(50)
  .openapi({ description: "Page size, 1–100.", example: 50 });

export const cursorQuery = z
  .string()
  .max(200)
  .optional()
  .openapi({ description: "nextCursor from the previous page; omit for the first page.", example: "eyJ0IjoxNzY0MTUxMjAwMDAwLCJpZCI6ImtleV8zayJ9" });

export function fieldErrors(error: ZodError): FieldError[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}

/** An OpenAPIHono whose validation failures become 400 problem+json. */
export function openApiRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw invalidRequest(`The request ${result.target === "json" ? "body" : result.target} is not valid.`, fieldErrors(result.error));
      }
    },
  });
}

/** A JSON response entry for createRoute(). */
export const jsonResponse = <T>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
