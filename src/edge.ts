import { Hono } from "hono";
import { requireKey } from "./auth/key-credential";
import type { AppEnv, AppParts } from "./context";
import { onError } from "./http/errors";
import { frontLayers } from "./http/front";
import { getCallingKey } from "./routes/key/get";

type Fetch = (request: Request, env: AppEnv["Bindings"], ctx: ExecutionContext) => Response | Promise<Response>;

/**
 * The start-up path: what a new isolate builds before its first request.
 * Building every route's schemas and the OpenAPI metadata is most of the full
 * app's start-up cost; a script checking its key (and the isolate that serves
 * it) never pays for it. So the hottest public route, `GET /v1/key`, is
 * answered here, and every other request is handed to the full app, loaded on
 * first use.
 *
 * One definition of the route: routes/key/get.ts holds its method, path,
 * auth, scope and handler as plain values, imports no schema library, and is
 * what the full app mounts too (with its OpenAPI description). Here it gets
 * the same front layers and the same requireKey as in the full app, so both
 * answer it alike (test/edge.test.ts holds them to it). Nothing on this
 * path may import zod, @hono/zod-openapi or a route's schemas: `npm run
 * startup` measures what it costs.
 */
export function createEdgeApp(parts: AppParts, fullApp: () => Promise<{ fetch: Fetch }>) {
  const { context, cors } = frontLayers(parts.options, parts.services);
  const app = new Hono<AppEnv>();
  const op = getCallingKey;
  app.on(op.method.toUpperCase(), op.path, context, cors, requireKey(op.scope ?? undefined), op.handler);
  app.all("*", async (c) => (await fullApp()).fetch(c.req.raw, c.env, c.executionCtx as ExecutionContext));
  app.onError(onError);
  return app;
}
