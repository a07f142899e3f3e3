import { adminRoute } from "../auth/route-auth";
import { jsonResponse, openApiRouter } from "../http/openapi";
import { AuditEventListSchema, ListAuditEventsQuery } from "./schemas";
import { listAuditEvents } from "./service";

export const listAuditEventsRoute = adminRoute({
  method: "get",
  path: "/v1/audit-events",
  tags: ["Audit"],
  operationId: "listAuditEvents",
  summary: "List audit events",
  description:
    "Key events of the workspace (`api_key.created`, `api_key.revoked`, `api_key.rolled`, `api_key.updated`), newest first, with who made each change and from where. Admins only; filter with `keyId`.",
  request: { query: ListAuditEventsQuery },
  responses: { 200: jsonResponse(AuditEventListSchema, "A page of audit events.") },
});

// The only audit route reads. Events are written by the changes they record,
// in the same D1 batch, and no route updates or deletes one.
export const auditRoutes = openApiRouter().openapi(listAuditEventsRoute, async (c) =>
  c.json(await listAuditEvents(c.env, c.var.session.ws, c.req.valid("query")), 200),
);
