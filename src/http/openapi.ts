import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import type { AppEnv } from "../context";
import {
  type FieldError,
  invalidRequest,
  PROBLEM_CODES,
  PROBLEMS,
  Problem,
  type ProblemCode,
  type ProblemExtra,
  problemBody,
  problemType,
} from "./problem";

/** The origin the document's examples are shown at: where a client sees this service's own. */
const EXAMPLE_ORIGIN = "https://keys.example.com";
const EXAMPLE_REQUEST_ID = "6f1c2a9e-4b7d-4e0a-9d3c-2b8f5e7a1c40";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({
      description:
        "A URI naming the kind of problem (RFC 9457): this service's API reference, `/docs`, at the row that explains the code (`#error-<code>`). Branch on `code`.",
      example: problemType(EXAMPLE_ORIGIN, "invalid_request"),
    }),
    title: z.string().openapi({
      description: "A short human summary of the kind of problem; the same for every occurrence of a code.",
      example: "Invalid request",
    }),
    status: z.number().int().openapi({ description: "The HTTP status code, repeated in the body.", example: 400 }),
    detail: z.string().openapi({
      description: "What went wrong with this request, for people; do not parse it.",
      example: "The request body is not valid.",
    }),
    code: z.enum(PROBLEM_CODES).openapi({
      description: "Stable machine-readable code; branch on this. Each code with its status and meaning is listed in `x-enumDescriptions`.",
      example: "invalid_request",
      "x-enumDescriptions": Object.fromEntries(PROBLEM_CODES.map((code) => [code, `${PROBLEMS[code].status}: ${PROBLEMS[code].meaning}`])),
    }),
    errors: z
      .array(
        z.object({
          path: z
            .string()
            .openapi({ description: "The field, dot-separated (`scopes.0`); empty for the body as a whole.", example: "name" }),
          message: z
            .string()
            .openapi({ description: "Why the field was refused.", example: "Too small: expected string to have >=1 characters" }),
          rule: z.string().optional().openapi({
            description:
              "For policy_violation: the key policy's rule the field breaks, named as in `GET /v1/key-policy` (`maxLifetimeDays`, `requireIpAllowlist`).",
            example: "maxLifetimeDays",
          }),
        }),
      )
      .optional()
      .openapi({
        description: "For invalid_request: one entry per bad field. For policy_violation: one entry per field and policy rule it breaks.",
        example: [{ path: "name", message: "Too small: expected string to have >=1 characters" }],
      }),
    requiredScope: z
      .string()
      .optional()
      .openapi({ description: "For insufficient_scope: the scope the route needs.", example: "sources:write" }),
    requestId: z.string().openapi({
      description: "The request's id, also sent as the X-Request-Id header; every problem carries it. Quote it when reporting a problem.",
      example: "6f1c2a9e-4b7d-4e0a-9d3c-2b8f5e7a1c40",
    }),
  })
  .openapi("Problem");

const EXAMPLE_EXTRA: Partial<Record<ProblemCode, ProblemExtra>> = {
  invalid_request: { errors: [{ path: "name", message: "Too small: expected string to have >=1 characters" }] },
  insufficient_scope: { requiredScope: "sources:write" },
  policy_violation: {
    errors: [
      {
        path: "expiresAt",
        rule: "maxLifetimeDays",
        message:
          "The workspace's key policy (maxLifetimeDays) allows keys of at most 90 days: expiresAt must be no later than 2027-02-24T10:00:00.000Z.",
      },
    ],
  },
};

/**
 * The documented error responses of a route, grouped by status from the
 * problem table: each status lists its codes, with an example body made
 * exactly as the error handler makes one.
 */
export function problemResponses<const C extends ProblemCode>(codes: readonly C[]) {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of new Set(codes)) {
    const status = PROBLEMS[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<
    number,
    {
      description: string;
      headers?: typeof RETRY_AFTER;
      content: {
        "application/problem+json": { schema: typeof ProblemSchema; examples: Record<string, { summary: string; value: unknown }> };
      };
    }
  > = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[status] = {
      description: group.map((code) => `\`${code}\`: ${PROBLEMS[code].meaning}`).join(" "),
      ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
      content: {
        "application/problem+json": {
          schema: ProblemSchema,
          examples: Object.fromEntries(
            group.map((code) => [
              code,
              {
                summary: PROBLEMS[code].title,
                value: problemBody(new Problem(code, PROBLEMS[code].example, EXAMPLE_EXTRA[code]), EXAMPLE_REQUEST_ID, EXAMPLE_ORIGIN),
              },
            ]),
          ),
        },
      },
    };
  }
  return out as Record<StatusOf<C>, (typeof out)[number]>;
}

/** Every 429 and 503 says when to try again. */
const RETRY_AFTER = {
  "Retry-After": {
    description:
      "Seconds to wait before trying again: for `rate_limited`, until the key's window ends (equal to the RateLimit header's `t`).",
    schema: { type: "integer", minimum: 0, example: 17 },
  },
} as const;

type StatusOf<C extends ProblemCode> = (typeof PROBLEMS)[C]["status"];

/**
 * What any operation can answer from our side, whatever it is: 503 when
 * storage (or the deploy's configuration) fails it, 500 when something
 * unexpected does (the error handler's last resort covers every route).
 */
export const SERVER_PROBLEMS = ["unavailable", "internal_error"] as const satisfies readonly ProblemCode[];
/** Problems any authenticated route can answer with. */
export const COMMON_PROBLEMS = ["not_found", ...SERVER_PROBLEMS] as const satisfies readonly ProblemCode[];
/** Problems of a route that reads a JSON body, on top of the common ones. */
export const BODY_PROBLEMS = ["invalid_request", "payload_too_large", "unsupported_media_type"] as const satisfies readonly ProblemCode[];

export function listSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      data: z.array(item).openapi({ description: "This page of items, newest first." }),
      nextCursor: z.string().nullable().openapi({
        description: "Pass as ?cursor= for the next page; null on the last page.",
        example: "eyJ0IjoxNzY0MTUxMjAwMDAwLCJpZCI6ImtleV8zayJ9",
      }),
    })
    .openapi(name);
}

export const limitQuery = z.coerce.number().int().min(1).max(100).default(50).openapi({ description: "Page size, 1–100.", example: 50 });

export const cursorQuery = z.string().max(200).optional().openapi({
  description: "nextCursor from the previous page; omit for the first page.",
  example: "eyJ0IjoxNzY0MTUxMjAwMDAwLCJpZCI6ImtleV8zayJ9",
});

/** One entry per bad field; a field the body may not have (a strict body) is named as the field. */
export function fieldErrors(error: ZodError): FieldError[] {
  return error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: [...issue.path, key].map(String).join("."), message: "Not a field of this body." }))
      : [{ path: issue.path.map(String).join("."), message: issue.message }],
  );
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
