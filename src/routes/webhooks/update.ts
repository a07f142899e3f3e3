import { jsonResponse } from "../../http/openapi";
import { updateEndpoint } from "../../webhooks/endpoints";
import { adminOperation } from "../operation";
import { auditedBy, checkedUrl, UpdateWebhookBody, WebhookEndpointSchema, WebhookIdParam, webhookKeys } from "./schemas";

export const updateWebhook = adminOperation(
  {
    method: "patch",
    path: "/v1/webhooks/{id}",
    tags: ["Webhooks"],
    operationId: "updateWebhook",
    summary: "Edit a webhook endpoint",
    description:
      "Changes its URL, event types or description, or disables (`enabled: false`) or enables it again (`enabled: true`), recording a " +
      "`webhook.updated` audit event naming the fields changed. The signing secret stays the same.",
    request: { params: WebhookIdParam, body: { required: true, content: { "application/json": { schema: UpdateWebhookBody } } } },
    responses: { 200: jsonResponse(WebhookEndpointSchema, "The endpoint after the change.") },
  },
  async (c) => {
    webhookKeys(c);
    const { url, ...rest } = c.req.valid("json");
    const patch = { ...rest, ...(url === undefined ? {} : { url: checkedUrl(c, url) }) };
    return c.json(await updateEndpoint(c.env, c.var.session.ws, c.req.valid("param").id, patch, auditedBy(c)), 200);
  },
  { problems: ["conflict"] },
);
