import { jsonResponse } from "../../http/openapi";
import { listEndpoints } from "../../webhooks/endpoints";
import { adminOperation } from "../operation";
import { ListQuery, WebhookEndpointListSchema, webhookKeys } from "./schemas";

export const listWebhooks = adminOperation(
  {
    method: "get",
    path: "/v1/webhooks",
    tags: ["Webhooks"],
    operationId: "listWebhooks",
    summary: "List webhook endpoints",
    description: "The workspace's endpoints, newest first (at most 10). Never their secrets.",
    request: { query: ListQuery },
    responses: { 200: jsonResponse(WebhookEndpointListSchema, "A page of endpoints.") },
  },
  async (c) => {
    webhookKeys(c);
    return c.json(await listEndpoints(c.env, c.var.session.ws, c.req.valid("query")), 200);
  },
);
