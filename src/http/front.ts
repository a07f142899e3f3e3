import type { MiddlewareHandler } from "hono";
import type { AppEnv, Services } from "../context";
import type { AppOptions } from "../options";
import { apiCors } from "./cors";
import { requestContext } from "./request-context";

/**
 * The layers in front of every route, in order, for the full app and for the
 * edge app's hot route alike: first the request id, the app's parts and the
 * one log line, which must cover every answer; then CORS, before anything
 * that can refuse a request, so that a console on an allowed origin can read
 * every answer (errors included) and its preflights get a 204.
 */
export function frontLayers(options: AppOptions, services: Services) {
  return {
    context: requestContext(options, services) as MiddlewareHandler<AppEnv>,
    cors: apiCors(options.corsAllowedOrigins) as MiddlewareHandler<AppEnv>,
  };
}
