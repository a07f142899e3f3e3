import { bodyLimit } from "hono/body-limit";
import type { AppParts } from "./context";
import { notFoundOrWrongMethod, onError } from "./http/errors";
import { frontLayers } from "./http/front";
import { openApiRouter } from "./http/openapi";
import { Problem } from "./http/problem";
import { log } from "./lib/log";
import { OPERATIONS, PAGES } from "./routes";
import { mount } from "./routes/operation";
import { apiReference } from "./routes/service/openapi";

/** Largest accepted request body. A text source is at most 100 000 characters. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The whole HTTP service, built from its parts: the front layers, the route
 * list (every API operation), the pages (the OpenAPI document, its reference
 * page, the console), the error handling. The worker entry builds it with
 * the production parts; the bench and the tests build it with theirs.
 */
export function createApp({ options, services }: AppParts) {
  if (options.sessionSecret === null) {
    // Said once per build, not per request: every console call answers 503 until it is set.
    log("error", "session_secret_unusable", { reason: "SESSION_SECRET is unset or shorter than 32 bytes; session routes answer 503" });
  }
  if ("unusable" in options.webhookSecretKeys) {
    // Likewise: the webhook routes answer 503 and no delivery is sent until it is set; the rest works.
    log("error", "webhook_secret_keys_unusable", { reason: `${options.webhookSecretKeys.unusable}; webhook routes answer 503` });
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

  const api = mount(app, OPERATIONS);
  const reference = apiReference(app);
  for (const page of PAGES) app.get(page.path, page.handler(reference));

  app.notFound(notFoundOrWrongMethod(app));
  app.onError(onError);
  return api;
}

/** The app's type, for the typed client (`hc<AppType>`): every API operation with its request and response types. */
export type AppType = ReturnType<typeof createApp>;
