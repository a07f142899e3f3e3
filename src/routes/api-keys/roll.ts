import { z } from "@hono/zod-openapi";
import { adminActor } from "../../auth/actor";
import { jsonResponse } from "../../http/openapi";
import { applyKeyChange, MAX_OVERLAP_SECONDS } from "../../keys/change";
import { toKeyRecord } from "../../keys/records";
import { changeDeps } from "../change-deps";
import { adminOperation } from "../operation";
import { CreatedKeySchema, KeyIdParam } from "./schemas";

export const RollKeyBody = z
  .object({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_OVERLAP_SECONDS)
      .optional()
      .openapi({
        description: `How long the old key keeps working next to the new one, in seconds (0–${MAX_OVERLAP_SECONDS}, a week). Default 0: the old key stops at once. It never works longer than its own expiresAt.`,
        example: 86_400,
      }),
    expiresAt: z.iso
      .datetime({ offset: true })
      .refine((v) => Date.parse(v) > Date.now(), "expiresAt must be in the future.")
      .nullable()
      .optional()
      .openapi({
        description:
          "When the new key stops working (ISO 8601); omit or null for never. The old key's expiry is not copied. " +
          "Under a key policy with `maxLifetimeDays`, at most that many days from now; omitted or null, the new key gets the longest allowed.",
        example: "2027-06-30T00:00:00Z",
      }),
  })
  .openapi("RollApiKey");

export const rollApiKey = adminOperation(
  {
    method: "post",
    path: "/v1/api-keys/{id}/roll",
    tags: ["API keys"],
    operationId: "rollApiKey",
    summary: "Roll an API key",
    description: [
      "Replaces the key with a new one that has the same name, scopes, IP allowlist and rate limit, and `rolledFrom` set to the old key's id. The new key's secret is returned this once.",
      "The old key gets `rolledTo` and keeps working for `overlapSeconds` (default 0: it stops at once), then answers 401 `expired_credentials`; elsewhere the change takes effect within the revocation bound, as a revoke does.",
      "A revoked key, or one already rolled, answers 409 `conflict`; of concurrent rolls of one key exactly one succeeds.",
      "The new key must follow the workspace's key policy as it is today, whatever the old key was allowed: 422 `policy_violation` otherwise (with `requireIpAllowlist`, a key without an IP allowlist cannot be rolled until it has one).",
    ].join(" "),
    request: {
      params: KeyIdParam,
      body: { required: false, content: { "application/json": { schema: RollKeyBody } } },
    },
    responses: { 201: jsonResponse(CreatedKeySchema, "The new key, with its secret this once.") },
  },
  async (c) => {
    const session = c.var.session;
    const body = c.req.valid("json") ?? {};
    const { row, key } = await applyKeyChange(
      changeDeps(c),
      {
        kind: "roll",
        workspaceId: session.ws,
        keyId: c.req.valid("param").id,
        overlapSeconds: body.overlapSeconds ?? 0,
        expiresAt: body.expiresAt ? Date.parse(body.expiresAt) : null,
      },
      adminActor(c, session),
    );
    c.header("Cache-Control", "no-store");
    return c.json({ ...toKeyRecord(row), key }, 201);
  },
  { problems: ["conflict", "policy_violation"] },
);
