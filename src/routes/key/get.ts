import type { Context } from "hono";
import type { AppEnv } from "../../context";
import type { VerifiedKey } from "../../keys/verify/verified-key";
import type { OpenApiKit } from "../kit";

/**
 * GET /v1/key: a cheap way for a script to check its key. The hottest public
 * route, so the edge app (src/edge.ts) answers it as soon as an isolate
 * starts, before any schema exists. Hence this file imports no schema library
 * (only types): method, path, auth, scope and handler are plain values both
 * apps use, and the OpenAPI description is a function of the kit
 * (routes/kit.ts), which only the full app calls.
 */

/** What `GET /v1/key` tells a key about itself: never the secret. */
function describeCallingKey(k: VerifiedKey) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    workspaceId: k.workspaceId,
    expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
  };
}

export const getCallingKey = {
  method: "get",
  path: "/v1/key",
  auth: "key",
  scope: null,
  handler: (c: Context<AppEnv>) => c.json(describeCallingKey(c.var.apiKey), 200),
  spec: ({ z, jsonResponse, ScopeSchema }: OpenApiKit) => {
    const CallingKeySchema = z
      .object({
        id: z.string().openapi({ description: "The calling key's id (`key_…`).", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
        name: z.string().openapi({ description: "The key's name.", example: "Zapier sync" }),
        prefix: z.string().openapi({ description: "The first characters of the key.", example: "sk_live_4fQz" }),
        scopes: z.array(ScopeSchema).openapi({ description: "What the key may do.", example: ["sources:read"] }),
        workspaceId: z
          .string()
          .openapi({ description: "The workspace the key belongs to; it only ever sees this workspace.", example: "ws_demo" }),
        expiresAt: z
          .string()
          .nullable()
          .openapi({ description: "When the key stops working (ISO 8601, UTC); null for never.", example: null }),
      })
      .openapi("CallingKey", { description: "The API key that made the call, as the service sees it. Never the secret." });
    return {
      tags: ["API keys"],
      operationId: "getCallingKey",
      summary: "Describe the calling key",
      description: "A cheap way for a script to check its key and see its scopes.",
      responses: { 200: jsonResponse(CallingKeySchema, "The key that made this call.") },
    };
  },
} as const;
