import { z } from "@hono/zod-openapi";
import { formatCidr, parseCidr } from "../lib/cidr";

export const MAX_IP_ALLOWLIST_ENTRIES = 20;

/** Enough to recognise the entry, never a whole pasted secret (keys are 46 characters). */
const ECHO_LIMIT = 40;

function quoteEntry(s: string): string {
  const t = s.trim();
  return JSON.stringify(t.length > ECHO_LIMIT ? `${t.slice(0, ECHO_LIMIT)}…` : t);
}

/** One entry, replaced by its normalised text; a refusal is reported at the entry's index. */
const IpAllowlistEntry = z.string().transform((s, ctx) => {
  const cidr = parseCidr(s);
  if (!cidr) {
    ctx.addIssue({ code: "custom", message: `Not an IPv4/IPv6 address or CIDR: ${quoteEntry(s)}` });
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
