import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AuditedBy } from "../../audit/events";
import { adminActor } from "../../auth/actor";
import type { AppEnv } from "../../context";
import { cursorQuery, limitQuery, listSchema } from "../../http/openapi";
import { invalidRequest, unavailable } from "../../http/problem";
import { actorId } from "../../keys/actor";
import { KEY_EVENT_DESCRIPTIONS, KEY_EVENT_TYPES } from "../../webhooks/event-types";
import { TEST_EVENT_TYPE } from "../../webhooks/events";
import type { SecretKey } from "../../webhooks/secret-box";
import { MAX_URL_LENGTH, urlRefusal } from "../../webhooks/url";

export const EventTypeSchema = z.enum(KEY_EVENT_TYPES).openapi({
  description: "A key event; `x-enumDescriptions` says what each means.",
  example: "api_key.revoked",
  "x-enumDescriptions": KEY_EVENT_DESCRIPTIONS,
});

const url = z
  .string()
  .min(1)
  .max(MAX_URL_LENGTH)
  .openapi({
    description: `Where events are POSTed: \`https://\`, at most ${MAX_URL_LENGTH} characters, no credentials, not \`localhost\` or a private, loopback or link-local IP (400).`,
    example: "https://hooks.example.com/owlish",
  });

const events = z
  .array(EventTypeSchema)
  .min(1)
  .refine((list) => new Set(list).size === list.length, "Event types must not repeat.")
  .openapi({
    description: "The event types sent to this endpoint: at least one, no repeats.",
    example: ["api_key.revoked", "api_key.expiring"],
  });

const description = z
  .string()
  .trim()
  .max(500)
  .nullable()
  .transform((v) => (v ? v : null))
  .openapi({ description: "What the endpoint is for, at most 500 characters; empty or null for none.", example: "Page the on-call" });

export const CreateWebhookBody = z
  .strictObject({
    url,
    events: events.optional().openapi({ description: "The event types sent to this endpoint (at least one, no repeats); default: all." }),
    description: description.optional(),
  })
  .openapi("CreateWebhookEndpoint", {
    description: "Unknown fields are refused (400), so a misspelt `events` never means every event.",
    example: { url: "https://hooks.example.com/owlish", events: ["api_key.revoked", "api_key.expiring"], description: "Page the on-call" },
  });

export const UpdateWebhookBody = z
  .strictObject({
    url: url.optional(),
    events: events.optional(),
    description: description.optional(),
    enabled: z.boolean().optional().openapi({
      description:
        "`false` disables the endpoint (`disabledReason` `admin`; its pending deliveries fail); `true` enables a disabled one, whatever disabled it.",
      example: true,
    }),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), "Send at least one field to change.")
  .openapi("UpdateWebhookEndpoint", {
    description: "The fields to change; those left out keep their values. Unknown fields are refused (400).",
    example: { events: ["api_key.revoked"], enabled: true },
  });

export const WebhookEndpointSchema = z
  .object({
    id: z.string().openapi({ description: "The endpoint's id (`wh_…`).", example: "wh_5tGm2QpL8vXc1Rk7Nz3Bd9Wa" }),
    url: z
      .string()
      .openapi({ description: "Where events are POSTed (as the URL parser normalises it).", example: "https://hooks.example.com/owlish" }),
    events: z
      .array(EventTypeSchema)
      .openapi({ description: "The event types sent to it.", example: ["api_key.revoked", "api_key.expiring"] }),
    description: z.string().nullable().openapi({ description: "What it is for; null for none.", example: "Page the on-call" }),
    createdAt: z.string().openapi({ description: "When it was created (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
    disabledAt: z
      .string()
      .nullable()
      .openapi({ description: "When it was disabled (nothing is sent to it); null while enabled.", example: null }),
    disabledReason: z
      .enum(["gone", "failing", "admin"])
      .nullable()
      .openapi({
        description:
          "Why it is disabled: `gone` (it answered 410 Gone), `failing` (every attempt failed for 3 days), `admin` (disabled with PATCH); " +
          "null while enabled. Enable it again with PATCH `enabled: true`.",
        example: null,
      }),
  })
  .openapi("WebhookEndpoint");

export const CreatedWebhookSchema = WebhookEndpointSchema.extend({
  secret: z.string().openapi({
    description:
      "The signing secret (`whsec_` + base64 of 32 random bytes), for verifying the `webhook-signature` header. Shown only in this response.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwHzZ1+rE2m8o=",
  }),
}).openapi("CreatedWebhookEndpoint");

export const WebhookEndpointListSchema = listSchema(WebhookEndpointSchema, "WebhookEndpointList");

export const WebhookDeliverySchema = z
  .object({
    id: z.string().openapi({
      description: "The delivery's id (`msg_…`): the `webhook-id` header, the same on every attempt.",
      example: "msg_2KWPBgLlAfxdpx2AI54pPJ85",
    }),
    event: z.enum([...KEY_EVENT_TYPES, TEST_EVENT_TYPE]).openapi({ description: "The event's type.", example: "api_key.revoked" }),
    createdAt: z
      .string()
      .openapi({ description: "When the event was addressed to this endpoint (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
    status: z.enum(["pending", "delivered", "failed"]).openapi({
      description:
        "`pending`: not delivered yet, another attempt is due at `nextAttemptAt`; `delivered`: a 2xx came back within 10 s; `failed`: no more attempts.",
      example: "delivered",
    }),
    attempts: z.number().int().openapi({ description: "Attempts made so far.", example: 1 }),
    lastAttemptAt: z
      .string()
      .nullable()
      .openapi({ description: "When the latest attempt was made; null before the first.", example: "2026-11-26T10:00:01.000Z" }),
    lastResponseStatus: z.number().int().nullable().openapi({
      description: "The HTTP status of the latest attempt's answer; null when none came (timeout, network) or before the first.",
      example: 200,
    }),
    lastError: z.string().nullable().openapi({
      description:
        "Why the latest attempt failed when no status says it: `timeout`, `network`, `url_not_allowed`, `endpoint_disabled` (nothing was sent), `dead_lettered`; null otherwise.",
      example: null,
    }),
    nextAttemptAt: z
      .string()
      .nullable()
      .openapi({ description: "When the next attempt is due; null once delivered or failed.", example: null }),
  })
  .openapi("WebhookDelivery");

export const WebhookDeliveryListSchema = listSchema(WebhookDeliverySchema, "WebhookDeliveryList");

export const WebhookIdParam = z.object({
  id: z
    .string()
    .max(200)
    .openapi({
      param: { name: "id", in: "path", description: "The endpoint's id (`wh_…`)." },
      description: "The endpoint's id (`wh_…`).",
      example: "wh_5tGm2QpL8vXc1Rk7Nz3Bd9Wa",
    }),
});

export const DeliveryParams = WebhookIdParam.extend({
  deliveryId: z
    .string()
    .max(200)
    .openapi({
      param: { name: "deliveryId", in: "path", description: "The delivery's id (`msg_…`)." },
      description: "The delivery's id (`msg_…`).",
      example: "msg_2KWPBgLlAfxdpx2AI54pPJ85",
    }),
});

export const ListQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

/**
 * The keys that seal signing secrets, or 503: without WEBHOOK_SECRET_KEYS no
 * webhook route answers (the log names the variable; the rest of the service
 * works on).
 */
export function webhookKeys(c: Context<AppEnv>): readonly SecretKey[] {
  const configured = c.var.options.webhookSecretKeys;
  if ("unusable" in configured) throw unavailable("Webhooks are not configured on this service; nothing was done.", configured.unusable);
  return configured.keys;
}

/** A URL the service may send to, under this deployment's rules; otherwise 400 naming `url`. */
export function checkedUrl(c: Context<AppEnv>, raw: string): string {
  const allowLocal = c.var.options.webhookAllowLocalUrls;
  // The rules hold of the URL as given and as it will be fetched (the parser's normal form).
  const refusal = urlRefusal(raw, allowLocal) ?? urlRefusal(new URL(raw).href, allowLocal);
  if (refusal) throw invalidRequest("The webhook URL is not allowed.", [{ path: "url", message: refusal }]);
  return new URL(raw).href;
}

/** The admin making the change, as the audit trail records them. */
export function auditedBy(c: Context<AppEnv>): AuditedBy {
  const actor = adminActor(c, c.var.session);
  return { actorId: actorId(actor), clientIp: actor.clientIp, userAgent: actor.userAgent };
}
