import { z } from "@hono/zod-openapi";
import { AUDIT_ACTIONS } from "../../audit/events";
import { listAuditEvents as list } from "../../audit/queries";
import { cursorQuery, jsonResponse, limitQuery, listSchema } from "../../http/openapi";
import { adminOperation } from "../operation";

export const AuditEventSchema = z
  .object({
    id: z.string().openapi({ description: "The event's id (`evt_…`).", example: "evt_7QmR2kW9xT4bN8vL1cZ6hY3a" }),
    action: z.enum(AUDIT_ACTIONS).openapi({ description: "What happened.", example: "api_key.revoked" }),
    workspaceId: z.string().openapi({ description: "The workspace the event belongs to.", example: "ws_demo" }),
    actorId: z.string().openapi({
      description:
        "Who made the change: the admin's user id, `github_secret_scanning` for a leak GitHub reported, the key's own id when it revoked itself, or `policy` for a key the workspace's key policy revoked as idle.",
      example: "usr_ada",
    }),
    keyId: z.string().nullable().openapi({
      description: "The API key the event is about; null for an event about the workspace's key policy (`key_policy.updated`).",
      example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5",
    }),
    clientIp: z.string().nullable().openapi({ description: "The client's IP address (CF-Connecting-IP).", example: "203.0.113.7" }),
    userAgent: z.string().nullable().openapi({ description: "The client's User-Agent, at most 512 characters.", example: "Mozilla/5.0" }),
    createdAt: z.string().openapi({ description: "When it happened (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
    details: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({
        description:
          "What else the action records, or null. `api_key.revoked`: `reason` (`admin`, `leaked`, `self`, `idle`) and, for a leak, `url`; `api_key.rolled`: `newKeyId`, `overlapSeconds`; `api_key.updated`: `fields`, the names changed; `key_policy.updated`: `old` and `new`, the policy before and after (`maxLifetimeDays`, `requireIpAllowlist`, `idleRevokeDays`).",
        example: { reason: "admin" },
      }),
  })
  .openapi("AuditEvent");

export const AuditEventListSchema = listSchema(AuditEventSchema, "AuditEventList");

const ListAuditEventsQuery = z.object({
  keyId: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: "Only the events of this key.", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
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
      "Key events of the workspace (`api_key.created`, `api_key.revoked`, `api_key.rolled`, `api_key.updated`) and changes to its key policy (`key_policy.updated`), newest first, with who made each change and from where. Admins only; filter with `keyId` (key events only).",
    request: { query: ListAuditEventsQuery },
    responses: { 200: jsonResponse(AuditEventListSchema, "A page of audit events.") },
  },
  async (c) => c.json(await list(c.env, c.var.session.ws, c.req.valid("query")), 200),
);
