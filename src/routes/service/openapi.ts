import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { completeArrayExamples } from "../../docs/examples";
import type { ApiReference, Page } from "../page";

type App = OpenAPIHono<AppEnv>;

/**
 * The app's OpenAPI document, built from the operations mounted on it (their
 * own zod schemas) on first request and kept: what /openapi.json serves and
 * /docs renders. Call once every operation is mounted.
 */
export function apiReference(app: App): ApiReference {
  registerSecuritySchemes(app);
  let document: ReturnType<typeof buildDocument> | undefined;
  return { document: () => (document ??= buildDocument(app)) };
}

export const openApiJson: Page = { method: "get", path: "/openapi.json", handler: (reference) => (c) => c.json(reference.document()) };

function registerSecuritySchemes(app: App) {
  app.openAPIRegistry.registerComponent("securitySchemes", "sessionToken", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "Console session: an HS256 JWT with sub, ws, role (admin|member), exp and iat, signed with SESSION_SECRET (at least 32 bytes). Its lifetime (exp - iat) is at most 24 hours; when SESSION_ISSUER / SESSION_AUDIENCE are configured, iss / aud must match. Key routes need role admin.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "sk_live_…",
    description: "An API key, sent as `Authorization: Bearer sk_live_…`. Each route names the scope it needs.",
  });
}

function buildDocument(app: App) {
  return completeArrayExamples(
    app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "owlish keys",
        version: "1.0.0",
        description: [
          "Create, scope, use and revoke API keys, and the public sources API those keys unlock. Errors are RFC 9457 problem+json with a stable `code`.",
          'JSON in and out: field names in camelCase, times as ISO 8601 UTC strings, `null` for "never". Lists are `{"data": [...], "nextCursor": string|null}`, newest first; pass `?cursor=<nextCursor>` for the next page and `?limit=` (1–100, default 50).',
          "The full secret of an API key is returned once, by the call that creates it; afterwards only its `prefix` identifies it. Revocation is final.",
        ].join("\n\n"),
      },
      servers: [{ url: "/" }],
      tags: [
        { name: "API keys", description: "Key management for workspace admins (console session)." },
        { name: "Sources", description: "The public API, authenticated with an API key." },
        { name: "Audit", description: "Who created and revoked which key, when and from where (admins, console session)." },
        {
          name: "Key policy",
          description:
            "Rules every key of the workspace must follow (admins, console session): a maximum lifetime, a required IP allowlist, revocation of idle keys.",
        },
        {
          name: "Secret scanning",
          description: "Leaked keys reported by GitHub secret scanning are revoked at once (GitHub-signed, no bearer credential).",
        },
        {
          name: "Webhooks",
          description:
            "Signed notifications of key events (Standard Webhooks) POSTed to the workspace's endpoints, with their delivery records (admins, console session).",
        },
        { name: "Service", description: "Health and documentation." },
      ],
    }),
  );
}
