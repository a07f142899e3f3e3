import { z } from "@hono/zod-openapi";
import { adminActor } from "../../auth/actor";
import { jsonResponse } from "../../http/openapi";
import { applyKeyChange } from "../../keys/change";
import { toKeyRecord } from "../../keys/records";
import { changeDeps } from "../change-deps";
import { adminOperation } from "../operation";
import { CreatedKeySchema, guardRailFields, KeyName, ScopeSchema } from "./schemas";

/**
 * The body of POST /v1/api-keys. Strict, like PATCH's: a field it does not
 * take is refused (400 naming it), so a misspelt guard rail (`ipAllowList`,
 * `ratelimit`, `expiresat`) can never create a key without the restriction
 * the admin asked for, and no server-owned field is silently dropped.
 */
export const CreateKeyBody = z
  .strictObject({
    name: KeyName,
    scopes: z
      .array(ScopeSchema)
      .min(1)
      .refine((s) => new Set(s).size === s.length, "Scopes must not repeat.")
      .openapi({ description: "At least one scope, no repeats. Pick the smallest set the integration needs.", example: ["sources:read"] }),
    expiresAt: z.iso
      .datetime({ offset: true })
      .refine((v) => Date.parse(v) > Date.now(), "expiresAt must be in the future.")
      .nullable()
      .optional()
      .openapi({
        description:
          "When the key stops working (ISO 8601); omit or null for never. Under a key policy with `maxLifetimeDays`, at most that many days from now; " +
          "omitted or null, the key gets the longest allowed (the answer shows it).",
        example: "2027-06-30T00:00:00Z",
      }),
    ...guardRailFields("create"),
  })
  .openapi("CreateApiKey");

export const createApiKey = adminOperation(
  {
    method: "post",
    path: "/v1/api-keys",
    tags: ["API keys"],
    operationId: "createApiKey",
    summary: "Create an API key",
    description:
      "Returns the key record plus `key`, the full secret, which is never shown again. " +
      "The key must follow the workspace's key policy (`GET /v1/key-policy`): 422 `policy_violation` names each field and rule it would break.",
    request: { body: { required: true, content: { "application/json": { schema: CreateKeyBody } } } },
    responses: { 201: jsonResponse(CreatedKeySchema, "The new key, with its secret this once.") },
  },
  async (c) => {
    const session = c.var.session;
    const { expiresAt, ...fields } = c.req.valid("json");
    const { row, key } = await applyKeyChange(
      changeDeps(c),
      { kind: "create", workspaceId: session.ws, fields: { ...fields, expiresAt: expiresAt ? Date.parse(expiresAt) : null } },
      adminActor(c, session),
    );
    c.header("Cache-Control", "no-store");
    return c.json({ ...toKeyRecord(row), key }, 201);
  },
  { problems: ["policy_violation"] },
);
