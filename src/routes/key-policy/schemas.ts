import { z } from "@hono/zod-openapi";
import type { KeyPolicyRow } from "../../db/schema";
import { type KeyPolicy, POLICY_RULES } from "../../keys/guard-rails";
import { IDLE_WARNING_MS } from "../../policy/idle-timing";
import { policyOf } from "../../policy/store";
import { VIOLATIONS_PER_RULE } from "../../policy/violations";

const [MIN_LIFETIME, MAX_LIFETIME] = POLICY_RULES.maxLifetimeDays.range;
const [MIN_IDLE, MAX_IDLE] = POLICY_RULES.idleRevokeDays.range;

/** The three rules, as PUT takes them (each required: PUT sends the whole policy) and every answer shows them. */
const rules = {
  maxLifetimeDays: z
    .number()
    .int()
    .min(MIN_LIFETIME)
    .max(MAX_LIFETIME)
    .nullable()
    .openapi({
      description:
        `The longest a key may live, creation to expiry, in days (${MIN_LIFETIME}–${MAX_LIFETIME}); null: no cap. ` +
        "Create and roll need an `expiresAt` within it; a key created or rolled without one gets the longest allowed (the answer shows it). " +
        "Keys that already exist keep their expiry.",
      example: 90,
    }),
  requireIpAllowlist: z.boolean().openapi({
    description:
      "Keys need a non-empty `ipAllowlist`: create needs one, PATCH cannot empty it, and a key without one cannot be rolled (the new key inherits it). " +
      "Keys that already exist without one keep working.",
    example: true,
  }),
  idleRevokeDays: z
    .number()
    .int()
    .min(MIN_IDLE)
    .max(MAX_IDLE)
    .nullable()
    .openapi({
      description:
        `An active key not used for this many days (${MIN_IDLE}–${MAX_IDLE}; counted from its last use, or its creation) is revoked automatically ` +
        "(`revocationReason` `idle`, `revokedBy` `policy`), after an `api_key.idle` event at least 7 days before; a use in between spares it. " +
        "The first revocations happen no sooner than 7 days after the rule is set or changed. null: never.",
      example: 180,
    }),
};

export const KeyPolicyBody = z.object(rules).openapi("KeyPolicyInput", {
  description: "The whole policy: every rule, each `null` or `false` to turn it off.",
  example: { maxLifetimeDays: 90, requireIpAllowlist: true, idleRevokeDays: 180 },
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The policy as the API shows it; inline in the PUT answer (a referenced schema there could carry no description of its own). */
const policyRecord = z.object({
  ...rules,
  idleRevocationsFrom: z.string().nullable().openapi({
    description:
      "With the idle rule on: the earliest time it may revoke a key (7 days after it was set or last changed); null while it is off.",
    example: "2026-12-03T10:00:00.000Z",
  }),
  updatedAt: z
    .string()
    .nullable()
    .openapi({ description: "When the policy was last saved; null if never (every rule off).", example: "2026-11-26T10:00:00.000Z" }),
  updatedBy: z.string().nullable().openapi({ description: "User id of the admin who last saved it; null if never.", example: "usr_ada" }),
});

export const KeyPolicySchema = policyRecord.openapi("KeyPolicy");

/** The policy as the API shows it: `policy` (its rules) as saved, or about to be, in `row`'s workspace. */
export function toPolicyRecord(row: KeyPolicyRow | undefined, policy: KeyPolicy = policyOf(row)): z.infer<typeof KeyPolicySchema> {
  return {
    ...policy,
    idleRevocationsFrom: policy.idleRevokeDays === null || !row?.idleSetAt ? null : iso(row.idleSetAt + IDLE_WARNING_MS),
    updatedAt: iso(row?.updatedAt ?? null),
    updatedBy: row?.updatedBy ?? null,
  };
}

export const ViolationSchema = z
  .object({
    keyId: z.string().openapi({ description: "The key that does not comply.", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
    rule: z.enum(["maxLifetimeDays", "requireIpAllowlist", "idleRevokeDays"]).openapi({
      description:
        "The rule it breaks. `maxLifetimeDays`: its lifetime, creation to expiry, is longer (or it never expires). " +
        "`requireIpAllowlist`: it has no IP allowlist. `idleRevokeDays`: it has been unused long enough to be warned now, and will be revoked as idle about a week later unless it is used. " +
        "A key that breaks two rules is listed once for each.",
      example: "maxLifetimeDays",
    }),
    name: z.string().openapi({ description: "The key's name.", example: "Zapier sync" }),
    prefix: z.string().openapi({ description: "The key's prefix.", example: "sk_live_4fQz" }),
    message: z.string().openapi({
      description: "Why, in words, for people.",
      example: "Never expires; the policy allows keys of at most 90 days.",
    }),
  })
  .openapi("KeyPolicyViolation");

export const KeyPolicyResultSchema = z
  .object({
    policy: policyRecord.openapi({
      description: "The policy as saved (or, for a dry run, as it would read once saved).",
      example: {
        maxLifetimeDays: 90,
        requireIpAllowlist: true,
        idleRevokeDays: 180,
        idleRevocationsFrom: "2026-12-03T10:00:00.000Z",
        updatedAt: "2026-11-26T10:00:00.000Z",
        updatedBy: "usr_ada",
      },
    }),
    saved: z.boolean().openapi({
      description:
        "Whether this call saved the policy: false for a dry run, and for a policy equal to the one in force (nothing is written or recorded).",
      example: true,
    }),
    violations: z.array(ViolationSchema).openapi({
      description:
        "The workspace's working keys (not revoked, not expired) that do not comply with the policy today, rule by rule: oldest first (for the idle rule, longest unused first). " +
        "They keep working: the policy binds the keys that are created, rolled or edited from now on. Only the idle rule acts on them, by revoking after its warning. " +
        `At most ${VIOLATIONS_PER_RULE} per rule; \`violationsTruncated\` says when there were more.`,
    }),
    violationsTruncated: z.boolean().openapi({
      description: `True when a rule has more than ${VIOLATIONS_PER_RULE} non-compliant keys: the list holds the first ${VIOLATIONS_PER_RULE} of each.`,
      example: false,
    }),
  })
  .openapi("KeyPolicyResult");

export const PutKeyPolicyQuery = z.object({
  dryRun: z.enum(["true", "false"]).default("false").openapi({
    description: "`true`: save nothing, record nothing; answer the policy as it would be and the keys that would not comply.",
    example: "true",
  }),
});
