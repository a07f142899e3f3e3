import { jsonResponse } from "../../http/openapi";
import { retryDelivery } from "../../webhooks/endpoints";
import { adminOperation } from "../operation";
import { DeliveryParams, WebhookDeliverySchema, webhookKeys } from "./schemas";

export const retryWebhookDelivery = adminOperation(
  {
    method: "post",
    path: "/v1/webhooks/{id}/deliveries/{deliveryId}/retry",
    tags: ["Webhooks"],
    operationId: "retryWebhookDelivery",
    summary: "Send a delivery again",
    description:
      "Attempts the delivery again now, with the same `webhook-id` and body (whatever its status), and, should that fail, on the usual " +
      "retry schedule from now. A disabled endpoint is not sent to (409).",
    request: { params: DeliveryParams },
    responses: { 202: jsonResponse(WebhookDeliverySchema, "The delivery, pending again.") },
  },
  async (c) => {
    webhookKeys(c);
    const { id, deliveryId } = c.req.valid("param");
    return c.json(await retryDelivery(c.env, c.var.session.ws, id, deliveryId), 202);
  },
  { problems: ["conflict"] },
);
