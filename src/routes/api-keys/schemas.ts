import { z } from "@hono/zod-openapi";
import { cursorQuery, limitQuery, listSchema } from "../../http/openapi";
import { GUARD_RAILS, type GuardRailField } from "../../keys/guard-rails";
import { GUARD_RAIL_SCHEMAS } from "../../keys/guard-rails/schemas";
import { SCOPE_DESCRIPTIONS, SCOPES } from "../../keys/scopes";

type RailSchemas = typeof GUARD_RAIL_SCHEMAS;
type Patchable = { [F in GuardRailField]: (typeof GUARD_RAILS)[F]["patchable"] extends false ? never : F }[GuardRailField];

/** The guard rails' fields, in table order: every rail in the key record and the create body, the patchable ones in PATCH's. */
export function guardRailFields(use: "record"): { [F in GuardRailField]: RailSchemas[F]["record"] };
export function guardRailFields(use: "create"): { [F in GuardRailField]: RailSchemas[F]["create"] };
export function guardRailFields(use: "update"): { [F in Patchable]: RailSchemas[F]["update"] };
export function guardRailFields(use: "record" | "create" | "update") {
  const fields = Object.keys(GUARD_RAILS) as GuardRailField[];
  return Object.fromEntries(fields.filter((f) => use !== "update" || GUARD_RAILS[f].patchable).map((f) => [f, GUARD_RAIL_SCHEMAS[f][use]]));
}

const scopeDoc = SCOPES.map((s) => `\`${s}\`: ${SCOPE_DESCRIPTIONS[s]}`).join(" ");

export const ScopeSchema = z.enum(SCOPES).openapi({ description: scopeDoc, example: "sources:read" });

/** A key's name, on create and PATCH. */
export const KeyName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .openapi({ description: "What the key is for, 1–100 characters after trimming.", example: "Zapier sync" });

const iso = (description: string, example: string | null) => z.string().nullable().openapi({ description, example });

export const KeyRecordSchema = z
  .object({
    id: z
      .string()
      .openapi({ description: "The key's id (`key_…`); not a secret, used in the key routes.", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
    name: z.string().openapi({ description: "What the key is for, as given when it was created.", example: "Zapier sync" }),
    prefix: z.string().openapi({ description: "The first characters of the key, enough to recognise it.", example: "sk_live_4fQz" }),
    scopes: z.array(ScopeSchema).openapi({ description: "What the key may do.", example: ["sources:read", "sources:write"] }),
    createdAt: z.string().openapi({ description: "When the key was created (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
    createdBy: z.string().openapi({ description: "User id of the admin who created it.", example: "usr_ada" }),
    lastUsedAt: iso(
      "Latest authenticated use of the key (any call that passed verification, with or without the route's scope); fresh within a few seconds; null if never used.",
      "2026-11-26T10:05:00.000Z",
    ),
    expiresAt: iso("When the key stops working; null for never.", null),
    revokedAt: iso("When the key was revoked; null while active. Revocation is final.", null),
    revokedBy: z.string().nullable().openapi({
      description:
        "Who revoked it: the admin's user id, `github_secret_scanning` for a leak GitHub reported, the key's own id when it revoked itself, or `policy` when the workspace's key policy revoked it as idle; null while active.",
      example: null,
    }),
    revocationReason: z
      .enum(["admin", "leaked", "self", "idle"])
      .nullable()
      .openapi({
        description:
          "Why it was revoked: `admin` (from the console or API), `leaked` (reported by secret scanning), `self` (the key revoked itself), " +
          "`idle` (unused for the number of days the workspace's key policy allows, `idleRevokeDays`); null while active.",
        example: null,
      }),
    rolledFrom: z
      .string()
      .nullable()
      .openapi({ description: "The key this one replaced when it was rolled; null if it was created directly.", example: null }),
    rolledTo: z
      .string()
      .nullable()
      .openapi({ description: "The key that replaced this one when it was rolled; null if never rolled.", example: null }),
    ...guardRailFields("record"),
    lastUsedIp: z
      .string()
      .nullable()
      .openapi({ description: "Client address of the latest use; null until used or when unknown.", example: "203.0.113.7" }),
    lastUsedCountry: z.string().nullable().openapi({
      description: "ISO 3166 country of the latest use, as Cloudflare saw it; null until used or when unknown.",
      example: "DE",
    }),
    usedAfterRevokeAt: iso(
      "The latest call made with the key after it was revoked (refused with `revoked_api_key`: something still holds and presents it); " +
        "null if none. Fresh within a few seconds, like `lastUsedAt`; the calls themselves are in the key's request log.",
      null,
    ),
  })
  .openapi("ApiKey");

const NEVER_USED = "Null: a new key has not been used yet.";

/** A key as created (or rolled): the record, never used yet, plus its secret this once. */
export const CreatedKeySchema = KeyRecordSchema.extend({
  lastUsedAt: z.string().nullable().openapi({ description: NEVER_USED, example: null }),
  lastUsedIp: z.string().nullable().openapi({ description: NEVER_USED, example: null }),
  lastUsedCountry: z.string().nullable().openapi({ description: NEVER_USED, example: null }),
  key: z.string().openapi({
    description: "The full secret. Shown only in this response; store it in a secrets manager now.",
    example: "sk_live_4fQzK8mN2pR6tV0xB3dF7hJ1lZ5cA9eG2b1c3D",
  }),
}).openapi("CreatedApiKey");

export const KeyListSchema = listSchema(KeyRecordSchema, "ApiKeyList");

export const ListKeysQuery = z.object({
  status: z.enum(["active", "revoked"]).default("active").openapi({
    description: "`active`: keys not revoked (expired ones included); `revoked`: newest revocation first.",
    example: "active",
  }),
  limit: limitQuery,
  cursor: cursorQuery,
});

export const KeyIdParam = z.object({
  id: z
    .string()
    .max(200)
    .openapi({
      param: { name: "id", in: "path", description: "The key's id (`key_…`)." },
      description: "The key's id (`key_…`).",
      example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5",
    }),
});
