import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./app-env";
import { auditRoutes } from "./audit/routes";
import { consoleRoutes } from "./console/routes";
import { completeArrayExamples } from "./docs/examples";
import { renderReference } from "./docs/reference-page";
import { notFoundOrWrongMethod, onError } from "./http/errors";
import { apiCors } from "./http/cors";
import { jsonResponse } from "./http/openapi";
import { Problem } from "./http/problem";
import { requestContext } from "./http/request-context";
import { callingKeyRoute } from "./keys/calling-key-route";
import { keyRoutes } from "./keys/routes";
import { sourceRoutes } from "./sources/routes";

/** Largest accepted request body. A text source is at most 100 000 characters. */
export const MAX_BODY_BYTES = 1024 * 1024;

export const app = new OpenAPIHono<AppEnv>();

// First of all: the request id and the one log line must cover every answer.
app.use("*", requestContext);
// Before anything that can refuse a request, so that a console on an allowed
// origin can read every answer, errors included, and its preflights get a 204.
app.use("/v1/*", apiCors);
// Only methods that carry a body pay for the size check.
app.on(
  ["POST", "PUT", "PATCH", "DELETE"],
  "/v1/*",
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new Problem(413, "payload_too_large", `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
    },
  }),
);

app.openapi(
  createRoute({
    method: "get",
    path: "/health",
    tags: ["Service"],
    operationId: "health",
    summary: "Liveness",
    description: "Answers 200 while the worker runs; it reads no storage and needs no credentials.",
    security: [],
    responses: {
      200: jsonResponse(
        z.object({ status: z.literal("ok").openapi({ description: "Always `ok`.", example: "ok" }) }).openapi("Health", { description: "Liveness answer." }),
        "The worker is up.",
      ),
    },
  }),
  (c) => c.json({ status: "ok" as const }, 200),
);

app.route("/", keyRoutes);
app.route("/", callingKeyRoute);
app.route("/", sourceRoutes);
app.route("/", auditRoutes);
app.route("/", consoleRoutes);

app.openAPIRegistry.registerComponent("securitySchemes", "sessionToken", {
  type: "http",
  scheme: "bearer",
  bearerFormat: "JWT",
  description: "Console session: an HS256 JWT with sub, ws, role (admin|member), exp and iat. Key routes need role admin.",
});
app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
  type: "http",
  scheme: "bearer",
  bearerFormat: "sk_live_…",
  description: "An API key, sent as `Authorization: Bearer sk_live_…`. Each route names the scope it needs.",
});

let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
export function openApiDocument() {
  document ??= completeArrayExamples(app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "owlish keys",
      version: "1.0.0",
      description: [
        "Create, scope, use and revoke API keys, and the public sources API those keys unlock. Errors are RFC 9457 problem+json with a stable `code`.",
        "JSON in and out: field names in camelCase, times as ISO 8601 UTC strings, `null` for \"never\". Lists are `{\"data\": [...], \"nextCursor\": string|null}`, newest first; pass `?cursor=<nextCursor>` for the next page and `?limit=` (1–100, default 50).",
        "The full secret of an API key is returned once, by the call that creates it; afterwards only its `prefix` identifies it. Revocation is final.",
      ].join("\n\n"),
    },
    servers: [{ url: "/" }],
    tags: [
      { name: "API keys", description: "Key management for workspace admins (console session)." },
      { name: "Sources", description: "The public API, authenticated with an API key." },
      { name: "Audit", description: "Who created and revoked which key, when and from where (admins, console session)." },
      { name: "Service", description: "Health and documentation." },
    ],
  }));
  return document;
}

app.get("/openapi.json", (c) => c.json(openApiDocument()));
let referenceHtml: string | undefined;
app.get("/docs", (c) => c.html((referenceHtml ??= renderReference(openApiDocument()))));

app.notFound(notFoundOrWrongMethod(app));
app.onError(onError);
