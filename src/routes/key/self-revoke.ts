import { z } from "@hono/zod-openapi";
import { keyActor } from "../../auth/actor";
import { jsonResponse } from "../../http/openapi";
import { applyKeyChange } from "../../keys/change";
import { changeDeps } from "../change-deps";
import { keyOperation } from "../operation";

const SelfRevokedSchema = z
  .object({
    id: z.string().openapi({ description: "The calling key's id (`key_…`).", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
    revokedAt: z.string().openapi({ description: "When the key was revoked (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
    revocationReason: z.enum(["admin", "leaked", "self", "idle"]).openapi({
      description: "`self`; or, when another revoke got there first a moment earlier, the reason that one recorded.",
      example: "self",
    }),
  })
  .openapi("SelfRevokedKey", { description: "The calling key, now revoked." });

/** What a key can do about itself when it may have leaked. */
export const revokeCallingKey = keyOperation(
  null,
  {
    method: "post",
    path: "/v1/key/revoke",
    tags: ["API keys"],
    operationId: "revokeCallingKey",
    summary: "Revoke the calling key",
    description:
      "For a key that may have leaked: the key revokes itself, at once and for good, from any address and whatever its rate limit says (a leaked key is exactly when its holder may be elsewhere). Afterwards every call with it answers 401 `revoked_api_key` (at once where it was revoked, everywhere within 5 seconds). No body.",
    responses: { 200: jsonResponse(SelfRevokedSchema, "The key is revoked.") },
  },
  async (c) => {
    const key = c.var.apiKey;
    // The key is its own actor: revokedBy and the audit event's actorId are its id.
    const change = { kind: "revoke", workspaceId: key.workspaceId, keyId: key.id, reason: "self" } as const;
    const { row } = await applyKeyChange(changeDeps(c), change, keyActor(c, key));
    return c.json({ id: row.id, revokedAt: new Date(row.revokedAt!).toISOString(), revocationReason: row.revocationReason ?? "self" }, 200);
  },
  // Anyone holding the key may revoke it: its allowlist and rate limit protect the key, not its revocation.
  { guardRails: false },
);
