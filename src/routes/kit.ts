import { z } from "@hono/zod-openapi";
import { jsonResponse } from "../http/openapi";
import { ScopeSchema } from "./api-keys/schemas";

/**
 * What an operation served at the edge (routes/key/get.ts) builds its
 * OpenAPI description with. Such a file imports this module's type only,
 * so the edge app can load it without loading a schema library; the full
 * app calls its description with the kit.
 */
export const kit = { z, jsonResponse, ScopeSchema };
export type OpenApiKit = typeof kit;
