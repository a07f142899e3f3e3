import { adminActor } from "../../auth/actor";
import { jsonResponse } from "../../http/openapi";
import { applyKeyChange } from "../../keys/change";
import { toKeyRecord } from "../../keys/records";
import { withLatestUse } from "../../usage/recorded-uses";
import { changeDeps } from "../change-deps";
import { adminOperation } from "../operation";
import { KeyIdParam, KeyRecordSchema } from "./schemas";

export const revokeApiKey = adminOperation(
  {
    method: "post",
    path: "/v1/api-keys/{id}/revoke",
    tags: ["API keys"],
    operationId: "revokeApiKey",
    summary: "Revoke an API key",
    description: "Final: the key stops working and can never be reactivated. Revoking again returns the record unchanged.",
    request: { params: KeyIdParam },
    responses: { 200: jsonResponse(KeyRecordSchema, "The revoked key record.") },
  },
  async (c) => {
    const session = c.var.session;
    const change = { kind: "revoke", workspaceId: session.ws, keyId: c.req.valid("param").id, reason: "admin" } as const;
    const { row } = await applyKeyChange(changeDeps(c), change, adminActor(c, session));
    const [record] = await withLatestUse(c.env, c.var.services.usage, session.ws, [toKeyRecord(row)]);
    return c.json(record!, 200);
  },
);
