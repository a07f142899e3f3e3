import { z } from "@hono/zod-openapi";
import { formatCidr, parseCidr } from "../../lib/cidr";
import { quoteInput } from "../../lib/quote";
import { MAX_LIMIT, MAX_PERIOD_SECONDS, MIN_LIMIT, MIN_PERIOD_SECONDS } from "../../ratelimit/types";
import type { GuardRailField } from "../guard-rails";

export const MAX_IP_ALLOWLIST_ENTRIES = 20;

/** One entry, replaced by its normalised text; a refusal is reported at the entry's index. */
const IpAllowlistEntry = z.string().transform((s, ctx) => {
  const cidr = parseCidr(s);
  if (!cidr) {
    ctx.addIssue({ code: "custom", message: `Not an IPv4/IPv6 address or CIDR: ${quoteInput(s)}` });
    return z.NEVER;
  }
  return formatCidr(cidr);
});

/**
 * The ipAllowlist field of a create or update body, normalised: every entry
 * becomes a CIDR in canonical text (see parseCidr), and entries that normalise
 * to the same network are kept once, first occurrence first — "10.0.0.1/8" and
 * "10.0.0.0/8" are the same rule, so refusing the pair would only be noise.
 * Ranges that merely overlap are kept as given.
 */
export const IpAllowlistSchema = z
  .array(IpAllowlistEntry)
  .max(MAX_IP_ALLOWLIST_ENTRIES, `At most ${MAX_IP_ALLOWLIST_ENTRIES} entries.`)
  .transform((entries) => [...new Set(entries)])
  .openapi({
    description:
      `Client addresses the key may be used from, at most ${MAX_IP_ALLOWLIST_ENTRIES} entries: IPv4 or IPv6 CIDRs, or bare addresses (a /32 or /128). ` +
      "Stored normalised: host bits cleared (`10.1.2.3/8` becomes `10.0.0.0/8`), IPv6 in RFC 5952 form, IPv4-mapped ranges (`::ffff:10.0.0.0/104`) as IPv4, duplicates dropped. " +
      "IPv4 clients connecting over IPv6 (`::ffff:203.0.113.7`) match IPv4 entries. `[]` means any address.",
    example: ["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"],
  });

/**
 * The rateLimit field of a create or update body. The bounds are the ones the
 * limiter clamps to, so what is stored is exactly what is enforced (and what
 * the RateLimit-Policy header announces).
 */
const RateLimitSchema = z
  .object({
    limit: z
      .number()
      .int()
      .min(MIN_LIMIT)
      .max(MAX_LIMIT)
      .openapi({ description: `Calls allowed per period, ${MIN_LIMIT}–${MAX_LIMIT.toLocaleString("en-US")}.`, example: 100 }),
    periodSeconds: z
      .number()
      .int()
      .min(MIN_PERIOD_SECONDS)
      .max(MAX_PERIOD_SECONDS)
      .openapi({
        description: `The window, ${MIN_PERIOD_SECONDS}–${MAX_PERIOD_SECONDS} seconds; windows are aligned to the epoch (a 60-second window starts on the minute).`,
        example: 60,
      }),
  })
  .openapi({
    description:
      "At most `limit` authenticated calls per `periodSeconds` for this key; over it, 429 `rate_limited` with `Retry-After`. " +
      "Every answer to a key with a limit carries the `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers-11).",
    example: { limit: 100, periodSeconds: 60 },
  });

/**
 * Each guard rail's field in the key record, in the create body and, if
 * PATCH may change it, in the PATCH body (keys/guard-rails.ts says which).
 * Keyed by the table's fields, so a rail without its schemas does not compile.
 */
export const GUARD_RAIL_SCHEMAS = {
  ipAllowlist: {
    record: z.array(z.string()).openapi({
      description: "Client addresses the key may be used from, as normalised CIDRs; `[]` means any address.",
      example: ["203.0.113.7/32", "2001:db8::/32"],
    }),
    create: IpAllowlistSchema.optional(),
    update: IpAllowlistSchema.optional().openapi({
      description:
        "The new allowlist, replacing the whole list: at most 20 IPv4 or IPv6 CIDRs or bare addresses, stored normalised as on create. " +
        "Send `[]` to allow any address again.",
      example: ["203.0.113.7", "198.51.100.0/24"],
    }),
  },
  rateLimit: {
    record: z
      .object({
        limit: z.number().int().openapi({ description: "Calls allowed per period.", example: 100 }),
        periodSeconds: z.number().int().openapi({ description: "The period, in seconds.", example: 60 }),
      })
      .nullable()
      .openapi({ description: "Calls allowed per period for this key; null for no limit.", example: null }),
    create: RateLimitSchema.nullable()
      .optional()
      .openapi({
        description:
          "Calls allowed per period for this key; omit or null for no limit. Every call made with the key counts, including refused ones (403 for a missing scope, 404, 429).",
        example: { limit: 100, periodSeconds: 60 },
      }),
    update: RateLimitSchema.nullable()
      .optional()
      .openapi({
        description:
          "The key's new rate limit; null removes it. A new limit applies at once to the calls already counted in the current window.",
        example: { limit: 1000, periodSeconds: 3600 },
      }),
  },
} satisfies Record<GuardRailField, { record: z.ZodType; create: z.ZodType; update?: z.ZodType }>;
