import type { OpenAPIHono, OpenAPIRoute, RouteConfig, z } from "@hono/zod-openapi";
import { adminRoute, type KeyRouteOptions, keyRoute, openRoute, type RouteInput } from "../auth/route-auth";
import type { AppEnv } from "../context";
import type { ProblemCode } from "../http/problem";
import type { Scope } from "../keys/scopes";

/**
 * How a route is authenticated. `admin`: a console session with role admin.
 * `key`: an API key (with `scope`, when one is named). `none`: nothing.
 * `github_signature`: GitHub's signature of the raw body, checked by the handler.
 */
export type AuthKind = "admin" | "key" | "none" | "github_signature";

type HandlerOf<R extends RouteConfig> = OpenAPIRoute<R, AppEnv>["handler"];
type HookOf<R extends RouteConfig> = OpenAPIRoute<R, AppEnv>["hook"];

/**
 * One API operation, as the route list (routes/index.ts) holds it:
 *
 * - `method`, `path`: the HTTP method (lower case) and the OpenAPI path
 *   (`/v1/api-keys/{id}`; the router's own form is `:id`);
 * - `auth`: its AuthKind, and `scope`, the scope a `key` route requires
 *   (null: any valid key; always null for the other kinds);
 * - `operationId`: its name in the OpenAPI document;
 * - `route`: the createRoute() config, with the zod schemas of its
 *   parameters, query, body and responses (each with its OpenAPI example:
 *   what a suite needs to build a valid request), the auth middleware and the
 *   documented problems;
 * - `handler` (and `hook`, when it validates its own way);
 * - `components`: named schemas the document lists that no route references
 *   by schema (a body taken raw, as the secret scanning report is).
 */
export interface Operation<R extends RouteConfig = RouteConfig> {
  method: R["method"];
  path: R["path"];
  auth: AuthKind;
  scope: Scope | null;
  operationId: string;
  route: R;
  handler: HandlerOf<R>;
  hook?: HookOf<R>;
  components?: Record<string, z.ZodType>;
}

/** Any operation, whatever its route's types (what the route list holds). */
export type AnyOperation = Omit<Operation, "handler" | "hook"> & { handler: unknown; hook?: unknown };

interface Options<R extends RouteConfig> {
  /** Problems the operation answers besides those of its auth kind (and a body's, and the common ones). */
  problems?: readonly ProblemCode[];
  hook?: HookOf<R>;
  components?: Record<string, z.ZodType>;
}

function operation<const R extends RouteConfig>(auth: AuthKind, scope: Scope | null, route: R, handler: HandlerOf<R>, options: Options<R>) {
  return {
    method: route.method,
    path: route.path,
    auth,
    scope,
    operationId: route.operationId ?? "",
    route,
    handler,
    hook: options.hook,
    components: options.components,
  } satisfies Operation<R>;
}

type AdminRoute<R extends RouteInput> = ReturnType<typeof adminRoute<R>>;
type KeyRoute<R extends RouteInput> = ReturnType<typeof keyRoute<R>>;
type OpenRoute<R extends RouteInput> = ReturnType<typeof openRoute<R>>;

/** An operation for a workspace admin's console session. */
export function adminOperation<const R extends RouteInput>(
  spec: R,
  handler: HandlerOf<AdminRoute<R>>,
  options: Options<AdminRoute<R>> = {},
) {
  return operation("admin", null, adminRoute(spec, options.problems), handler, options);
}

/** An operation for an API key; with `scope`, the key must hold it. */
export function keyOperation<const R extends RouteInput>(
  scope: Scope | null,
  spec: R,
  handler: HandlerOf<KeyRoute<R>>,
  options: Options<KeyRoute<R>> & KeyRouteOptions = {},
) {
  return operation("key", scope, keyRoute(scope, spec, options.problems, options), handler, options);
}

/** An operation that needs no credentials. */
export function openOperation<const R extends RouteInput>(spec: R, handler: HandlerOf<OpenRoute<R>>, options: Options<OpenRoute<R>> = {}) {
  return operation("none", null, openRoute(spec, options.problems), handler, options);
}

/** An operation authenticated by GitHub's signature of its raw body, which its handler checks before anything else. */
export function githubSignedOperation<const R extends RouteInput>(
  spec: R,
  handler: HandlerOf<OpenRoute<R>>,
  options: Options<OpenRoute<R>> = {},
) {
  return operation("github_signature", null, openRoute(spec, options.problems), handler, options);
}

/**
 * Mounts the operations on the app, in order (the OpenAPI document lists
 * them in this order), and types the app with every operation's request and
 * response types, as `openapiRoutes` would, for the typed client (`hc<AppType>`).
 */
export function mount<const Ops extends readonly AnyOperation[]>(app: OpenAPIHono<AppEnv>, operations: Ops) {
  for (const op of operations) {
    app.openapi(op.route, op.handler as never, op.hook as never);
    for (const [name, schema] of Object.entries(op.components ?? {})) app.openAPIRegistry.register(name, schema);
  }
  return app as unknown as ReturnType<typeof app.openapiRoutes<Ops>>;
}
