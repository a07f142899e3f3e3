/**
 * Strict IPv4/IPv6 address parsing and canonical formatting, for IP allowlists.
 *
 * The parser scans character codes into a caller's buffer so the per-request
 * matcher can reuse one scratch buffer instead of allocating (see cidr.ts).
 */

export type IpFamily = 4 | 6;

/** An address as bytes: 4 for family 4, 16 for family 6. */
export interface ParsedIp {
  family: IpFamily;
  bytes: Uint8Array;
}

/** Longest textual address we accept ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is 45). */
const MAX_ADDRESS_LENGTH = 45;

const DOT = 0x2e;
const COLON = 0x3a;

function digitValue(c: number): number {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Dotted-quad s[start, end) into out[at..at+3]. Only the strict form: exactly
 * four decimal octets, no leading zeros — "010.0.0.1" is octal (8.0.0.1) to
 * inet_aton and decimal to others, and an allowlist must not be ambiguous.
 */
function scanIpv4(s: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || octets === 3) return false;
      out[at + octets++] = value;
      value = 0;
      digits = 0;
      continue;
    }
    const d = digitValue(c);
    if (d < 0) return false;
    if (digits > 0 && value === 0) return false;
    value = value * 10 + d;
    if (value > 255) return false;
    digits++;
  }
  if (digits === 0 || octets !== 3) return false;
  out[at + 3] = value;
  return true;
}

/**
 * RFC 4291 §2.2 text s[start, end) into out[0..15]: 1–4 hex digits per group,
 * at most one "::" standing for one or more zero groups, an optional dotted
 * IPv4 tail in the last 32 bits. No zone ids ("%eth0"): a zone is meaningless
 * for a remote client and would let two strings name "the same" address.
 */
function scanIpv6(s: string, start: number, end: number, out: Uint8Array): boolean {
  let i = start;
  // A leading ':' is only valid as the first half of "::".
  if (s.charCodeAt(i) === COLON && s.charCodeAt(++i) !== COLON) return false;
  let written = 0;
  let gap = -1;
  let groupStart = i;
  let value = 0;
  let digits = 0;
  while (i < end) {
    const c = s.charCodeAt(i++);
    const h = hexValue(c);
    if (h >= 0) {
      if (++digits > 4) return false;
      value = (value << 4) | h;
      continue;
    }
    if (c === COLON) {
      groupStart = i;
      if (digits === 0) {
        if (gap >= 0) return false;
        gap = written;
        continue;
      }
      if (i === end || written === 16) return false;
      out[written++] = value >> 8;
      out[written++] = value & 0xff;
      value = 0;
      digits = 0;
      continue;
    }
    if (c === DOT && written <= 12 && scanIpv4(s, groupStart, end, out, written)) {
      written += 4;
      digits = 0;
      break;
    }
    return false;
  }
  if (digits > 0) {
    if (written === 16) return false;
    out[written++] = value >> 8;
    out[written++] = value & 0xff;
  }
  if (gap >= 0) {
    if (written === 16) return false;
    const tail = written - gap;
    out.copyWithin(16 - tail, gap, written);
    out.fill(0, gap, 16 - tail);
    return true;
  }
  return written === 16;
}

/** True when out[0..15] is ::ffff:a.b.c.d, the IPv4-mapped form (RFC 4291 §2.5.5.2). */
export function isIpv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Parses s into out (at least 16 bytes) without allocating. Returns the family,
 * or 0 when s is not an address. With foldMapped, ::ffff:a.b.c.d comes back as
 * family 4 with the IPv4 bytes in out[0..3]. Nothing is trimmed.
 */
export function scanIp(s: string, out: Uint8Array, foldMapped: boolean): IpFamily | 0 {
  const n = s.length;
  if (n === 0 || n > MAX_ADDRESS_LENGTH) return 0;
  if (s.indexOf(":") < 0) return scanIpv4(s, 0, n, out, 0) ? 4 : 0;
  if (!scanIpv6(s, 0, n, out)) return 0;
  if (foldMapped && isIpv4Mapped(out)) {
    out.copyWithin(0, 12, 16);
    return 4;
  }
  return 6;
}

/**
 * A strictly parsed address. IPv4-mapped IPv6 (::ffff:203.0.113.7, also
 * ::ffff:cb00:7107) comes back as the IPv4 address: a dual-stack socket
 * reports IPv4 clients that way, and they must meet the same rules as when
 * reported as IPv4.
 */
export function parseIp(s: string): ParsedIp | null {
  return parseIpLiteral(s, true);
}

/** Like parseIp, but with foldMapped false a mapped address stays family 6 (CIDR parsing needs the prefix first). */
export function parseIpLiteral(s: string, foldMapped: boolean): ParsedIp | null {
  const out = new Uint8Array(16);
  const family = scanIp(s, out, foldMapped);
  if (family === 0) return null;
  return { family, bytes: family === 4 ? out.slice(0, 4) : out };
}

/** Dotted quad for family 4; RFC 5952 canonical text (lower case, longest zero run as "::") for family 6. */
export function formatIp(ip: ParsedIp): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first if tied.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
