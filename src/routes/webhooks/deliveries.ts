import { jsonResponse } from "../../http/openapi";
import { listDeliveries } from "../../webhooks/endpoints";
import { adminOperation } from "../operation";
import { ListQuery, WebhookDeliveryListSchema, WebhookIdParam, webhookKeys } from "./schemas";

export const listWebhookDeliveries = adminOperation(
  {
    method: "get",
    path: "/v1/webhooks/{id}/deliveries",
    tags: ["Webhooks"],
    operationId: "listWebhookDeliveries",
    summary: "List an endpoint's deliveries",
    description: "The events addressed to this endpoint and how their delivery went, newest first; kept 30 days.",
    request: { params: WebhookIdParam, query: ListQuery },
    responses: { 200: jsonResponse(WebhookDeliveryListSchema, "A page of deliveries.") },
  },
  async (c) => {
    webhookKeys(c);
    return c.json(await listDeliveries(c.env, c.var.session.ws, c.req.valid("param").id, c.req.valid("query")), 200);
  },
);
