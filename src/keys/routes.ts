import { adminActor } from "../auth/actor";
import { adminRoute } from "../auth/route-auth";
import { jsonResponse, openApiRouter } from "../http/openapi";
import { withLatestUse } from "../usage/recorded-uses";
import { applyKeyChange, changeDeps } from "./change";
import { getKey, listKeys } from "./queries";
import { toKeyRecord } from "./records";
import { CreatedKeySchema, CreateKeyBody, KeyIdParam, KeyListSchema, KeyRecordSchema, ListKeysQuery } from "./schemas";

const tags = ["API keys"];

export const createKeyRoute = adminRoute({
  method: "post",
  path: "/v1/api-keys",
  tags,
  operationId: "createApiKey",
  summary: "Create an API key",
  description: "Returns the key record plus `key`, the full secret, which is never shown again.",
  request: { body: { required: true, content: { "application/json": { schema: CreateKeyBody } } } },
  responses: { 201: jsonResponse(CreatedKeySchema, "The new key, with its secret this once.") },
});

export const listKeysRoute = adminRoute({
  method: "get",
  path: "/v1/api-keys",
  tags,
  operationId: "listApiKeys",
  summary: "List API keys",
  description: "Active keys newest first (expired ones included, marked by expiresAt), or revoked keys newest revocation first.",
  request: { query: ListKeysQuery },
  responses: { 200: jsonResponse(KeyListSchema, "A page of keys.") },
});

export const getKeyRoute = adminRoute({
  method: "get",
  path: "/v1/api-keys/{id}",
  tags,
  operationId: "getApiKey",
  summary: "Get an API key",
  description: "One key record of this workspace by id, revoked or not; 404 for an id of another workspace. Never the secret.",
  request: { params: KeyIdParam },
  responses: { 200: jsonResponse(KeyRecordSchema, "The key record.") },
});

export const revokeKeyRoute = adminRoute({
  method: "post",
  path: "/v1/api-keys/{id}/revoke",
  tags,
  operationId: "revokeApiKey",
  summary: "Revoke an API key",
  description: "Final: the key stops working and can never be reactivated. Revoking again returns the record unchanged.",
  request: { params: KeyIdParam },
  responses: { 200: jsonResponse(KeyRecordSchema, "The revoked key record.") },
});

/** Key management, for workspace admins (console session). */
export const keyRoutes = openApiRouter()
  .openapi(createKeyRoute, async (c) => {
    const session = c.var.session;
    const { expiresAt, ...fields } = c.req.valid("json");
    const { row, key } = await applyKeyChange(
      changeDeps(c),
      { kind: "create", workspaceId: session.ws, fields: { ...fields, expiresAt: expiresAt ? Date.parse(expiresAt) : null } },
      adminActor(c, session),
    );
    c.header("Cache-Control", "no-store");
    return c.json({ ...toKeyRecord(row), key }, 201);
  })
  .openapi(listKeysRoute, async (c) => {
    const ws = c.var.session.ws;
    const page = await listKeys(c.env, ws, c.req.valid("query"));
    return c.json({ ...page, data: await withLatestUse(c.env, c.var.services.usage, ws, page.data) }, 200);
  })
  .openapi(getKeyRoute, async (c) => {
    const ws = c.var.session.ws;
    const [record] = await withLatestUse(c.env, c.var.services.usage, ws, [await getKey(c.env, ws, c.req.valid("param").id)]);
    return c.json(record!, 200);
  })
  .openapi(revokeKeyRoute, async (c) => {
    const session = c.var.session;
    const change = { kind: "revoke", workspaceId: session.ws, keyId: c.req.valid("param").id, reason: "admin" } as const;
    const { row } = await applyKeyChange(changeDeps(c), change, adminActor(c, session));
    const [record] = await withLatestUse(c.env, c.var.services.usage, session.ws, [toKeyRecord(row)]);
    return c.json(record!, 200);
  });
