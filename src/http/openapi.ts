import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import type { AppEnv } from "../app-env";
import { invalidRequest, type FieldError } from "./problem";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "https://owlish.bot/docs/errors#invalid_request" }),
    title: z.string().openapi({ example: "Invalid request" }),
    status: z.number().int().openapi({ example: 400 }),
    detail: z.string().openapi({ example: "The request body is not valid." }),
    code: z.string().openapi({
      description:
        "Stable machine-readable code: missing_credentials, invalid_credentials, revoked_api_key, expired_credentials, insufficient_scope, forbidden, invalid_request, not_found, method_not_allowed, payload_too_large, unsupported_media_type, too_many_requests, unavailable.",
      example: "invalid_request",
    }),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: "For invalid_request: one entry per bad field." }),
    requiredScope: z.string().optional().openapi({ description: "For insufficient_scope: the scope the route needs." }),
    requestId: z.string().optional().openapi({
      description: "The request's id, also sent as the X-Request-Id header. Quote it when reporting a problem.",
      example: "6f1c2a9e-4b7d-4e0a-9d3c-2b8f5e7a1c40",
    }),
  })
  .openapi("Problem");

const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});

export const errorResponses = {
  400: problem("invalid_request: the body, query or JSON is not valid."),
  401: problem("missing_credentials, invalid_credentials, revoked_api_key or expired_credentials."),
  403: problem("forbidden (member session) or insufficient_scope (key without the scope)."),
  404: problem("not_found: no such resource in this workspace."),
  429: problem("too_many_requests: too many failed authentications from this client IP; wait Retry-After seconds."),
  503: problem("unavailable: storage is unreachable; nothing was done. Retry."),
} as const;

export const bodyErrorResponses = {
  ...errorResponses,
  413: problem("payload_too_large: the body exceeds the size limit."),
  415: problem("unsupported_media_type: send Content-Type: application/json."),
} as const;

export function listSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      data: z.array(item),
      nextCursor: z.string().nullable().openapi({ description: "Pass as ?cursor= for the next page; null on the last page." }),
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
  .openapi({ description: "nextCursor from the previous page." });

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
