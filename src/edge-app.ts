import { Hono } from "hono";
import { requireKey } from "./auth/key-credential";
import type { AppEnv, AppParts } from "./context";
import { onError } from "./http/errors";
import { frontLayers } from "./http/front";
import { describeCallingKey } from "./keys/calling-key";

type Fetch = (request: Request, env: AppEnv["Bindings"], ctx: ExecutionContext) => Response | Promise<Response>;

/**
 * What a new isolate builds before its first request: the hottest public route,
 * `GET /v1/key` (verification alone), from the same layers and middleware as
 * the full app, and a hand-off of every other request to the full app, which
 * is loaded on first use. Building every route's schemas and the OpenAPI
 * metadata is most of the full app's start-up cost; a script checking its key
 * (and the isolate that serves it) never pays for it.
 */
export function createEdgeApp(parts: AppParts, fullApp: () => Promise<{ fetch: Fetch }>) {
  const { context, cors } = frontLayers(parts.options, parts.services);
  const app = new Hono<AppEnv>();
  app.get("/v1/key", context, cors, requireKey(), (c) => c.json(describeCallingKey(c.var.apiKey), 200));
  app.all("*", async (c) => (await fullApp()).fetch(c.req.raw, c.env, c.executionCtx as ExecutionContext));
  app.onError(onError);
  return app;
}
