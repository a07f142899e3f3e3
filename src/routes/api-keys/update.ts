import { z } from "@hono/zod-openapi";
import { adminActor } from "../../auth/actor";
import { fieldErrors, jsonResponse } from "../../http/openapi";
import { invalidRequest } from "../../http/problem";
import { applyKeyChange } from "../../keys/change";
import { toKeyRecord } from "../../keys/records";
import { withLatestUse } from "../../usage/recorded-uses";
import { changeDeps } from "../change-deps";
import { adminOperation } from "../operation";
import { guardRailFields, KeyIdParam, KeyName, KeyRecordSchema } from "./schemas";

const SCOPES_NEVER_CHANGE = "Scopes never change. Create another key with the scopes you need, then revoke this one.";

/**
 * The body of PATCH /v1/api-keys/{id}: only the fields PATCH may change. Any
 * other field is refused (400 naming it), so a typo (`ipAllowList`) or a
 * server-owned field (`revokedAt`) is never silently ignored. `scopes` gets
 * its own message: an admin who sends it means to change what a key may do,
 * and ignoring that would leave a key with powers they believe it no longer
 * has.
 */
export const UpdateKeyBody = z
  .strictObject({
    name: KeyName.optional(),
    ...guardRailFields("update"),
  })
  .openapi("UpdateApiKey", {
    description:
      "The fields to change; those left out keep their values, and a body that changes nothing is answered with the record as it is. " +
      "Any other field is refused (400 naming it); `scopes` cannot be changed.",
    example: { name: "Zapier sync (EU)", ipAllowlist: ["203.0.113.7"], rateLimit: { limit: 100, periodSeconds: 60 } },
  });

export const updateApiKey = adminOperation(
  {
    method: "patch",
    path: "/v1/api-keys/{id}",
    tags: ["API keys"],
    operationId: "updateApiKey",
    summary: "Edit an API key",
    description:
      "Changes the key's name, IP allowlist or rate limit, recording an `api_key.updated` audit event naming the fields changed. " +
      "The change takes effect at once where it was made, and everywhere else within the same bound as a revocation. " +
      "Scopes never change (create another key); a revoked key cannot be changed (409). " +
      "What the body sets must follow the workspace's key policy: with `requireIpAllowlist`, the IP allowlist cannot be emptied (422 `policy_violation`).",
    request: { params: KeyIdParam, body: { required: true, content: { "application/json": { schema: UpdateKeyBody } } } },
    responses: { 200: jsonResponse(KeyRecordSchema, "The key record after the change.") },
  },
  async (c) => {
    const session = c.var.session;
    const change = { kind: "update", workspaceId: session.ws, keyId: c.req.valid("param").id, fields: c.req.valid("json") } as const;
    const { row } = await applyKeyChange(changeDeps(c), change, adminActor(c, session));
    const [record] = await withLatestUse(c.env, c.var.services.usage, session.ws, [toKeyRecord(row)]);
    return c.json(record!, 200);
  },
  {
    problems: ["conflict", "policy_violation"],
    // The app's default hook, but a body that tries to change the scopes is told what to do instead.
    hook: (result): undefined => {
      if (result.success) return undefined;
      const errors = fieldErrors(result.error);
      if (result.target === "json" && errors.some((e) => e.path === "scopes")) {
        throw invalidRequest(
          SCOPES_NEVER_CHANGE,
          errors.map((e) => (e.path === "scopes" ? { ...e, message: SCOPES_NEVER_CHANGE } : e)),
        );
      }
      throw invalidRequest(`The request ${result.target === "json" ? "body" : result.target} is not valid.`, errors);
    },
  },
);
