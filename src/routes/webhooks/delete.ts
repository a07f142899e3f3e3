import { deleteEndpoint } from "../../webhooks/endpoints";
import { adminOperation } from "../operation";
import { auditedBy, WebhookIdParam, webhookKeys } from "./schemas";

export const deleteWebhook = adminOperation(
  {
    method: "delete",
    path: "/v1/webhooks/{id}",
    tags: ["Webhooks"],
    operationId: "deleteWebhook",
    summary: "Delete a webhook endpoint",
    description:
      "Removes the endpoint and its deliveries: pending ones are dropped, nothing more is sent. Records a `webhook.deleted` audit event.",
    request: { params: WebhookIdParam },
    responses: { 204: { description: "Deleted; no body." } },
  },
  async (c) => {
    webhookKeys(c);
    await deleteEndpoint(c.env, c.var.session.ws, c.req.valid("param").id, auditedBy(c));
    return c.body(null, 204);
  },
);
