import { jsonResponse } from "../../http/openapi";
import { createEndpoint } from "../../webhooks/endpoints";
import { KEY_EVENT_TYPES } from "../../webhooks/event-types";
import { adminOperation } from "../operation";
import { auditedBy, CreatedWebhookSchema, CreateWebhookBody, checkedUrl, webhookKeys } from "./schemas";

export const createWebhook = adminOperation(
  {
    method: "post",
    path: "/v1/webhooks",
    tags: ["Webhooks"],
    operationId: "createWebhook",
    summary: "Add a webhook endpoint",
    description:
      "Key events of the workspace are POSTed to `url`, signed per Standard Webhooks. Answers the endpoint plus `secret`, the signing " +
      "secret, which is never shown again. At most 10 endpoints per workspace (409). Records a `webhook.created` audit event.",
    request: { body: { required: true, content: { "application/json": { schema: CreateWebhookBody } } } },
    responses: { 201: jsonResponse(CreatedWebhookSchema, "The new endpoint, with its signing secret this once.") },
  },
  async (c) => {
    const keys = webhookKeys(c);
    const body = c.req.valid("json");
    const created = await createEndpoint(
      c.env,
      keys,
      c.var.session.ws,
      { url: checkedUrl(c, body.url), events: body.events ?? [...KEY_EVENT_TYPES], description: body.description ?? null },
      auditedBy(c),
    );
    c.header("Cache-Control", "no-store");
    return c.json(created, 201);
  },
  { problems: ["conflict"] },
);
