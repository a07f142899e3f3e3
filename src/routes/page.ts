import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Handler } from "hono";
import type { AppEnv } from "../context";

/**
 * A page: a GET that is not an API operation (not in the OpenAPI document,
 * no credentials, not in the typed client): the document itself, its
 * reference page, the console. Its handler is made from the app's reference.
 */
/** The app's OpenAPI document (routes/service/openapi.ts builds it). */
export interface ApiReference {
  document(): ReturnType<OpenAPIHono["getOpenAPI31Document"]>;
}

export interface Page {
  method: "get";
  path: string;
  handler: (reference: ApiReference) => Handler<AppEnv>;
}
