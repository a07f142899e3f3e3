import { z } from "@hono/zod-openapi";
import type { AuditAction } from "../../audit/events";
import { listAuditEvents as list } from "../../audit/queries";
import { cursorQuery, jsonResponse, limitQuery, listSchema } from "../../http/openapi";
import { KeyPolicyBody } from "../key-policy/schemas";
import { adminOperation } from "../operation";

/** What every event holds, whatever its action. */
const eventFields = {
  id: z.string().openapi({ description: "The event's id (`evt_…`).", example: "evt_7QmR2kW9xT4bN8vL1cZ6hY3a" }),
  workspaceId: z.string().openapi({ description: "The workspace the event belongs to.", example: "ws_demo" }),
  actorId: z.string().openapi({
    description:
      "Who made the change: the admin's user id, `github_secret_scanning` for a leak GitHub reported, the key's own id when it revoked itself, `policy` for a key the workspace's key policy revoked as idle, or `webhook_delivery` for a webhook endpoint the service disabled.",
    example: "usr_ada",
  }),
  keyId: z.string().nullable().openapi({
    description: "The API key the event is about; null for a `webhook.*` or `key_policy.updated` event.",
    example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5",
  }),
  webhookId: z
    .string()
    .nullable()
    .openapi({ description: "The webhook endpoint a `webhook.*` event is about; null for a key event.", example: null }),
  clientIp: z.string().nullable().openapi({ description: "The client's IP address (CF-Connecting-IP).", example: "203.0.113.7" }),
  userAgent: z.string().nullable().openapi({ description: "The client's User-Agent, at most 512 characters.", example: "Mozilla/5.0" }),
  createdAt: z.string().openapi({ description: "When it happened (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
};

/** One action's event: the common fields, the action, and what that action records in `details`. */
function event<const A extends AuditAction, D extends z.ZodType>(action: A, name: string, description: string, details: D) {
  return z
    .object({ ...eventFields, action: z.literal(action).openapi({ description: "What happened.", example: action }), details })
    .openapi(name, { description });
}

const EVENTS = {
  "api_key.created": event(
    "api_key.created",
    "ApiKeyCreatedEvent",
    "A key was created (directly, or as the new key of a roll).",
    z.null().openapi({ description: "Nothing more: the key record says the rest.", example: null }),
  ),
  "api_key.revoked": event(
    "api_key.revoked",
    "ApiKeyRevokedEvent",
    "A key was revoked: by an admin, by itself, as a leak secret scanning reported, or as idle under the workspace's key policy.",
    z
      .object({
        reason: z.enum(["admin", "leaked", "self", "idle"]).openapi({ description: "The key's `revocationReason`.", example: "leaked" }),
        url: z.string().nullable().optional().openapi({
          description:
            "For a leak only: where it was found, as the report said (null if it said nowhere). Text from outside: never follow it blindly.",
          example: "https://github.com/octo/demo/blob/abc123/config.env#L3",
        }),
        idleSince: z.string().optional().openapi({
          description: "For an idle key only: since when it was unused (its last use, or its creation).",
          example: "2026-05-01T09:00:00.000Z",
        }),
        idleRevokeDays: z
          .number()
          .int()
          .optional()
          .openapi({ description: "For an idle key only: the key policy's `idleRevokeDays` that revoked it.", example: 180 }),
      })
      .openapi({
        description: "Why, and for a leak where.",
        example: { reason: "leaked", url: "https://github.com/octo/demo/blob/abc123/config.env#L3" },
      }),
  ),
  "api_key.rolled": event(
    "api_key.rolled",
    "ApiKeyRolledEvent",
    "A key was rolled (recorded on the old key; the new key has its own `api_key.created`).",
    z
      .object({
        newKeyId: z.string().openapi({ description: "The key that replaces this one.", example: "key_8HqL2mVt0Yw6cN4pR1sB9xZa" }),
        overlapSeconds: z
          .number()
          .int()
          .openapi({ description: "How long the old key keeps working next to the new one, in seconds.", example: 86_400 }),
      })
      .openapi({
        description: "The new key and the overlap.",
        example: { newKeyId: "key_8HqL2mVt0Yw6cN4pR1sB9xZa", overlapSeconds: 86_400 },
      }),
  ),
  "api_key.updated": event(
    "api_key.updated",
    "ApiKeyUpdatedEvent",
    "A key's name or guard rails were changed with PATCH.",
    z
      .object({
        fields: z
          .array(z.string())
          .openapi({ description: "The names of the fields whose value changed.", example: ["ipAllowlist", "rateLimit"] }),
      })
      .openapi({ description: "What changed.", example: { fields: ["ipAllowlist", "rateLimit"] } }),
  ),
  "webhook.created": event(
    "webhook.created",
    "WebhookCreatedEvent",
    "A webhook endpoint was added.",
    z
      .object({
        url: z.string().openapi({ description: "Where its events are sent.", example: "https://hooks.example.com/owlish" }),
        events: z.array(z.string()).openapi({ description: "The event types it receives.", example: ["api_key.revoked"] }),
      })
      .openapi({ description: "Its URL and events.", example: { url: "https://hooks.example.com/owlish", events: ["api_key.revoked"] } }),
  ),
  "webhook.updated": event(
    "webhook.updated",
    "WebhookUpdatedEvent",
    "A webhook endpoint was changed with PATCH (its URL, events, description, or enabled or disabled by an admin), or disabled by the service (`actorId` `webhook_delivery`: it answered 410, or every delivery failed for 3 days).",
    z
      .object({
        fields: z.array(z.string()).openapi({ description: "The names of the fields whose value changed.", example: ["events"] }),
        reason: z.enum(["gone", "failing"]).optional().openapi({
          description: 'When the service disabled the endpoint (`fields` is `["enabled"]`): why, as its `disabledReason`.',
          example: "gone",
        }),
      })
      .openapi({ description: "What changed.", example: { fields: ["events"] } }),
  ),
  "webhook.deleted": event(
    "webhook.deleted",
    "WebhookDeletedEvent",
    "A webhook endpoint was deleted, with its pending deliveries.",
    z
      .object({ url: z.string().openapi({ description: "Where its events went.", example: "https://hooks.example.com/owlish" }) })
      .openapi({ description: "Its URL.", example: { url: "https://hooks.example.com/owlish" } }),
  ),
  "key_policy.updated": event(
    "key_policy.updated",
    "KeyPolicyUpdatedEvent",
    "The workspace's key policy was saved with a change.",
    z
      .object({
        old: KeyPolicyBody,
        new: KeyPolicyBody,
      })
      .openapi({
        description: "The rules before (`old`) and after (`new`).",
        example: {
          old: { maxLifetimeDays: null, requireIpAllowlist: false, idleRevokeDays: null },
          new: { maxLifetimeDays: 90, requireIpAllowlist: true, idleRevokeDays: 180 },
        },
      }),
  ),
} satisfies { [A in AuditAction]: z.ZodObject<{ action: z.ZodLiteral<A> }> };

/** An audit event: one shape per action, told apart by `action`, each with its own `details`. */
export const AuditEventSchema = z
  .discriminatedUnion("action", [
    EVENTS["api_key.created"],
    EVENTS["api_key.revoked"],
    EVENTS["api_key.rolled"],
    EVENTS["api_key.updated"],
    EVENTS["webhook.created"],
    EVENTS["webhook.updated"],
    EVENTS["webhook.deleted"],
    EVENTS["key_policy.updated"],
  ])
  .openapi("AuditEvent", {
    description:
      "One event of the trail: a change to a key, to a webhook endpoint or to the key policy. `action` says which, and decides what `details` holds (one schema per action).",
  });

export const AuditEventListSchema = listSchema(AuditEventSchema, "AuditEventList");

const ListAuditEventsQuery = z.object({
  keyId: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: "Only the events of this key (key events only).", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
  limit: limitQuery,
  cursor: cursorQuery,
});

// The only audit route reads. Events are written by the changes they record,
// in the same D1 batch, and no route updates or deletes one.
export const listAuditEvents = adminOperation(
  {
    method: "get",
    path: "/v1/audit-events",
    tags: ["Audit"],
    operationId: "listAuditEvents",
    summary: "List audit events",
    description:
      "Key events of the workspace (`api_key.created`, `api_key.revoked`, `api_key.rolled`, `api_key.updated`) changes to its webhook endpoints (`webhook.created`, `webhook.updated`, `webhook.deleted`) and to its key policy (`key_policy.updated`), newest first, with who made each change and from where. Admins only; filter with `keyId` (key events only).",
    request: { query: ListAuditEventsQuery },
    responses: { 200: jsonResponse(AuditEventListSchema, "A page of audit events.") },
  },
  // Each action's details are written by the one write path (keys/change.ts) in the shape its schema above
  // documents; test/audit/events.test.ts holds every action's real events to it.
  async (c) => c.json((await list(c.env, c.var.session.ws, c.req.valid("query"))) as z.output<typeof AuditEventListSchema>, 200),
);
