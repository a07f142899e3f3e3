import { jsonResponse } from "../../http/openapi";
import { getEndpoint } from "../../webhooks/endpoints";
import { adminOperation } from "../operation";
import { WebhookEndpointSchema, WebhookIdParam, webhookKeys } from "./schemas";

export const getWebhook = adminOperation(
  {
    method: "get",
    path: "/v1/webhooks/{id}",
    tags: ["Webhooks"],
    operationId: "getWebhook",
    summary: "Get a webhook endpoint",
    description: "One endpoint of this workspace; 404 for an id of another workspace. Never its secret.",
    request: { params: WebhookIdParam },
    responses: { 200: jsonResponse(WebhookEndpointSchema, "The endpoint.") },
  },
  async (c) => {
    webhookKeys(c);
    return c.json(await getEndpoint(c.env, c.var.session.ws, c.req.valid("param").id), 200);
  },
);
