import { jsonResponse } from "../../http/openapi";
import { getKey } from "../../keys/queries";
import { withLatestUse } from "../../usage/recorded-uses";
import { adminOperation } from "../operation";
import { KeyIdParam, KeyRecordSchema } from "./schemas";

export const getApiKey = adminOperation(
  {
    method: "get",
    path: "/v1/api-keys/{id}",
    tags: ["API keys"],
    operationId: "getApiKey",
    summary: "Get an API key",
    description: "One key record of this workspace by id, revoked or not; 404 for an id of another workspace. Never the secret.",
    request: { params: KeyIdParam },
    responses: { 200: jsonResponse(KeyRecordSchema, "The key record.") },
  },
  async (c) => {
    const ws = c.var.session.ws;
    const [record] = await withLatestUse(c.env, c.var.services.usage, ws, [await getKey(c.env, ws, c.req.valid("param").id)]);
    return c.json(record!, 200);
  },
);
