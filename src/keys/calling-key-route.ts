import { z } from "@hono/zod-openapi";
import { keyRoute } from "../auth/route-auth";
import { jsonResponse, openApiRouter } from "../http/openapi";
import { describeCallingKey } from "./calling-key";
import { ScopeSchema } from "./schemas";

const CallingKeySchema = z
  .object({
    id: z.string().openapi({ description: "The calling key's id (`key_…`).", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
    name: z.string().openapi({ description: "The key's name.", example: "Zapier sync" }),
    prefix: z.string().openapi({ description: "The first characters of the key.", example: "sk_live_4fQz" }),
    scopes: z.array(ScopeSchema).openapi({ description: "What the key may do.", example: ["sources:read"] }),
    workspaceId: z
      .string()
      .openapi({ description: "The workspace the key belongs to; it only ever sees this workspace.", example: "ws_demo" }),
    expiresAt: z.string().nullable().openapi({ description: "When the key stops working (ISO 8601, UTC); null for never.", example: null }),
  })
  .openapi("CallingKey", { description: "The API key that made the call, as the service sees it. Never the secret." });

export const getCallingKeyRoute = keyRoute(null, {
  method: "get",
  path: "/v1/key",
  tags: ["API keys"],
  operationId: "getCallingKey",
  summary: "Describe the calling key",
  description: "A cheap way for a script to check its key and see its scopes.",
  responses: { 200: jsonResponse(CallingKeySchema, "The key that made this call.") },
});

/** What an API key can ask about itself. */
export const callingKeyRoutes = openApiRouter().openapi(getCallingKeyRoute, (c) => c.json(describeCallingKey(c.var.apiKey), 200));
