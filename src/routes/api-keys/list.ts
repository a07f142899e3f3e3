import { jsonResponse } from "../../http/openapi";
import { listKeys } from "../../keys/queries";
import { withLatestUse } from "../../usage/recorded-uses";
import { adminOperation } from "../operation";
import { KeyListSchema, ListKeysQuery } from "./schemas";

export const listApiKeys = adminOperation(
  {
    method: "get",
    path: "/v1/api-keys",
    tags: ["API keys"],
    operationId: "listApiKeys",
    summary: "List API keys",
    description: "Active keys newest first (expired ones included, marked by expiresAt), or revoked keys newest revocation first.",
    request: { query: ListKeysQuery },
    responses: { 200: jsonResponse(KeyListSchema, "A page of keys.") },
  },
  async (c) => {
    const ws = c.var.session.ws;
    const page = await listKeys(c.env, ws, c.req.valid("query"));
    return c.json({ ...page, data: await withLatestUse(c.env, c.var.services.usage, ws, page.data) }, 200);
  },
);
