import { jsonResponse } from "../../http/openapi";
import { testEndpoint } from "../../webhooks/endpoints";
import { adminOperation } from "../operation";
import { WebhookDeliverySchema, WebhookIdParam, webhookKeys } from "./schemas";

export const testWebhook = adminOperation(
  {
    method: "post",
    path: "/v1/webhooks/{id}/test",
    tags: ["Webhooks"],
    operationId: "testWebhook",
    summary: "Send a test event",
    description:
      "Sends a `webhook.test` event to this endpoint only, signed like every event, at once; the answer is its delivery, whose status " +
      "GET /v1/webhooks/{id}/deliveries shows. A disabled endpoint is not sent to (409).",
    request: { params: WebhookIdParam },
    responses: { 202: jsonResponse(WebhookDeliverySchema, "The test event's delivery, pending.") },
  },
  async (c) => {
    webhookKeys(c);
    return c.json(await testEndpoint(c.env, c.var.session.ws, c.req.valid("param").id), 202);
  },
  { problems: ["conflict"] },
);
