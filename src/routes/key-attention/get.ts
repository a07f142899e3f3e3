import { z } from "@hono/zod-openapi";
import { jsonResponse } from "../../http/openapi";
import { keysNeedingAttention } from "../../keys/attention";
import { KeyRecordSchema } from "../api-keys/schemas";
import { adminOperation } from "../operation";

const when = (description: string) => z.string().nullable().openapi({ description, example: "2026-11-26T10:00:00.000Z" });

const PresentedKeySchema = KeyRecordSchema.extend({
  lastPresentedAt: when("The latest time the revoked key was presented (within the last 7 days)."),
  lastPresentedIp: z.string().nullable().openapi({ description: "The client address of that call.", example: "203.0.113.7" }),
  lastPresentedCountry: z.string().nullable().openapi({ description: "Its ISO 3166 country, as Cloudflare saw it.", example: "NL" }),
}).openapi("PresentedRevokedKey", { description: "A revoked key that is still being presented: something still holds it." });

const IdleKeySchema = KeyRecordSchema.extend({
  revokeAt: when("When the idle policy will revoke it; null when not known."),
}).openapi("IdleKey", { description: "An active key the workspace's idle policy is about to revoke." });

export const KeyAttentionSchema = z
  .object({
    expiring: z.array(KeyRecordSchema).openapi({
      description: "Active keys that expire within 14 days, soonest first (not rolled keys in their overlap: their end is planned).",
    }),
    usedAfterRevoke: z
      .array(PresentedKeySchema)
      .openapi({ description: "Revoked keys presented in the last 7 days, latest first, with their latest call." }),
    idle: z.array(IdleKeySchema).openapi({ description: "Active keys the idle policy is about to revoke (warned in the last 14 days)." }),
  })
  .openapi("KeyAttention", { description: "What of the workspace's keys needs attention; at most 50 keys of each kind." });

export const getKeyAttention = adminOperation(
  {
    method: "get",
    path: "/v1/key-attention",
    tags: ["API keys"],
    operationId: "getKeyAttention",
    summary: "Keys that need attention",
    description:
      "Keys expiring within 14 days, revoked keys still being presented, and keys about to be revoked for being idle: what the console's keys page flags.",
    responses: { 200: jsonResponse(KeyAttentionSchema, "The keys that need attention.") },
  },
  async (c) => c.json(await keysNeedingAttention(c.env, c.var.session.ws), 200),
);
