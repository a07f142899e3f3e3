import { createRoute } from "@hono/zod-openapi";
import { errorResponses, jsonResponse, openApiRouter } from "../http/openapi";
import { requireAdminSession } from "../http/session";
import { AuditEventListSchema, ListAuditEventsQuery } from "./schemas";
import { listAuditEvents } from "./service";

export const auditRoutes = openApiRouter();

// The only audit route reads. Events are written by the changes they record,
// in the same D1 batch, and no route updates or deletes one.
auditRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/audit-events",
    tags: ["Audit"],
    operationId: "listAuditEvents",
    security: [{ sessionToken: [] }],
    summary: "List audit events",
    description:
      "Key events of the workspace (`api_key.created`, `api_key.revoked`), newest first, with who made each change and from where. Admins only; filter with `keyId`.",
    middleware: [requireAdminSession] as const,
    request: { query: ListAuditEventsQuery },
    responses: { 200: jsonResponse(AuditEventListSchema, "A page of audit events."), ...errorResponses },
  }),
  async (c) => c.json(await listAuditEvents(c.env, c.get("session").ws, c.req.valid("query")), 200),
);
