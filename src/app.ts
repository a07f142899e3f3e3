import { bodyLimit } from "hono/body-limit";
import { auditRoutes } from "./audit/routes";
import { consoleRoutes } from "./console/routes";
import type { AppParts } from "./context";
import { completeArrayExamples } from "./docs/examples";
import { renderReference } from "./docs/reference-page";
import { healthRoutes } from "./health";
import { notFoundOrWrongMethod, onError } from "./http/errors";
import { frontLayers } from "./http/front";
import { openApiRouter } from "./http/openapi";
import { Problem } from "./http/problem";
import { callingKeyRoutes } from "./keys/calling-key-route";
import { rotationRoutes } from "./keys/rotation-routes";
import { keyRoutes } from "./keys/routes";
import { selfRevokeRoutes } from "./keys/self-revoke-route";
import { keyUpdateRoutes } from "./keys/update-route";
import { log } from "./lib/log";
import { secretScanningRoutes } from "./secret-scanning/routes";
import { sourceRoutes } from "./sources/routes";
import { usageRoutes } from "./usage/routes";

/** Largest accepted request body. A text source is at most 100 000 characters. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The whole HTTP service, built from its parts. The worker entry builds it
 * with the production parts; the bench and the tests build it with theirs.
 */
export function createApp({ options, services }: AppParts) {
  if (options.sessionSecret === null) {
    // Said once per build, not per request: every console call answers 503 until it is set.
    log("error", "session_secret_unusable", { reason: "SESSION_SECRET is unset or shorter than 32 bytes; session routes answer 503" });
  }

  const app = openApiRouter();
  const front = frontLayers(options, services);
  app.use("*", front.context);
  app.use("/v1/*", front.cors);
  // Only methods that carry a body pay for the size check.
  app.on(
    ["POST", "PUT", "PATCH", "DELETE"],
    "/v1/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new Problem("payload_too_large", `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
      },
    }),
  );

  const routes = app
    .route("/", healthRoutes)
    .route("/", keyRoutes)
    .route("/", keyUpdateRoutes)
    .route("/", callingKeyRoutes)
    .route("/", sourceRoutes)
    .route("/", auditRoutes)
    .route("/", usageRoutes)
    .route("/", rotationRoutes)
    .route("/", selfRevokeRoutes)
    .route("/", secretScanningRoutes);

  registerSecuritySchemes(app);
  let document: ReturnType<typeof buildDocument> | undefined;
  const openApiDocument = () => (document ??= buildDocument(app));
  let referenceHtml: string | undefined;
  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  app.get("/docs", (c) => c.html((referenceHtml ??= renderReference(openApiDocument()))));
  app.route("/", consoleRoutes);

  app.notFound(notFoundOrWrongMethod(app));
  app.onError(onError);
  return routes;
}

/** The app's type, for the typed client (`hc<AppType>`): every API route with its request and response types. */
export type AppType = ReturnType<typeof createApp>;

type App = ReturnType<typeof openApiRouter>;

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
          name: "Secret scanning",
          description: "Leaked keys reported by GitHub secret scanning are revoked at once (GitHub-signed, no bearer credential).",
        },
        { name: "Service", description: "Health and documentation." },
      ],
    }),
  );
}
