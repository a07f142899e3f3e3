import { createRoute } from "@hono/zod-openapi";
import { bodyErrorResponses, errorResponses, jsonResponse, openApiRouter } from "../http/openapi";
import { requireAdminSession } from "../http/session";
import { CreateKeyBody, CreatedKeySchema, KeyIdParam, KeyListSchema, KeyRecordSchema, ListKeysQuery } from "./schemas";
import { withLatestUse } from "../usage/latest-use";
import { auditActor } from "../audit/events";
import { createKey, getKey, listKeys, revokeKey } from "./service";

const security = [{ sessionToken: [] }];
const tags = ["API keys"];

export const keyRoutes = openApiRouter();

// Every key route is for a workspace admin's console session.
keyRoutes.use("/v1/api-keys", requireAdminSession);
keyRoutes.use("/v1/api-keys/*", requireAdminSession);

keyRoutes.openapi(
  createRoute({
    method: "post",
    path: "/v1/api-keys",
    tags,
    security,
    operationId: "createApiKey",
    summary: "Create an API key",
    description: "Returns the key record plus `key`, the full secret, which is never shown again.",
    request: { body: { required: true, content: { "application/json": { schema: CreateKeyBody } } } },
    responses: { 201: jsonResponse(CreatedKeySchema, "The new key, with its secret this once."), ...bodyErrorResponses },
  }),
  async (c) => {
    const session = c.get("session");
    const created = await createKey(c.env, c.executionCtx, session, c.req.valid("json"), auditActor(c, session));
    c.header("Cache-Control", "no-store");
    return c.json(created, 201);
  },
);

keyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/api-keys",
    tags,
    security,
    operationId: "listApiKeys",
    summary: "List API keys",
    description: "Active keys newest first (expired ones included, marked by expiresAt), or revoked keys newest revocation first.",
    request: { query: ListKeysQuery },
    responses: { 200: jsonResponse(KeyListSchema, "A page of keys."), ...errorResponses },
  }),
  async (c) => {
    const ws = c.get("session").ws;
    const page = await listKeys(c.env, ws, c.req.valid("query"));
    c.header("Cache-Control", "no-store");
    return c.json({ ...page, data: await withLatestUse(c.env, ws, page.data) }, 200);
  },
);

keyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/api-keys/{id}",
    tags,
    security,
    operationId: "getApiKey",
    summary: "Get an API key",
    description: "One key record of this workspace by id, revoked or not; 404 for an id of another workspace. Never the secret.",
    request: { params: KeyIdParam },
    responses: { 200: jsonResponse(KeyRecordSchema, "The key record."), ...errorResponses },
  }),
  async (c) => {
    const ws = c.get("session").ws;
    const [record] = await withLatestUse(c.env, ws, [await getKey(c.env, ws, c.req.valid("param").id)]);
    c.header("Cache-Control", "no-store");
    return c.json(record!, 200);
  },
);

keyRoutes.openapi(
  createRoute({
    method: "post",
    path: "/v1/api-keys/{id}/revoke",
    tags,
    security,
    operationId: "revokeApiKey",
    summary: "Revoke an API key",
    description: "Final: the key stops working and can never be reactivated. Revoking again returns the record unchanged.",
    request: { params: KeyIdParam },
    responses: { 200: jsonResponse(KeyRecordSchema, "The revoked key record."), ...errorResponses },
  }),
  async (c) => {
    const session = c.get("session");
    const [record] = await withLatestUse(c.env, session.ws, [await revokeKey(c.env, c.req.valid("param").id, auditActor(c, session))]);
    c.header("Cache-Control", "no-store");
    return c.json(record!, 200);
  },
);
