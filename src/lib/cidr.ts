/**
 * CIDR entries and the per-key allowlist matcher.
 *
 * Matching compares parsed bytes under a prefix mask, never strings: one
 * address has many spellings (2001:DB8::1, 2001:db8:0::1, ::ffff:10.0.0.1).
 */
import { formatIp, type IpFamily, isIpv4Mapped, type ParsedIp, parseIpLiteral, scanIp } from "./ip";

/** A network: bytes are the network address (host bits zero), prefix in 0–32 or 0–128. */
export interface Cidr extends ParsedIp {
  prefix: number;
}

/** A compiled allowlist. Build with compileAllowlist; the fields are its private layout. */
export interface AllowlistMatcher {
  /** Entries in the list; 0 means any address is allowed. */
  readonly size: number;
  /** Per IPv4 entry: network, mask, as 32-bit ints. */
  readonly v4: Int32Array;
  /** Per IPv6 entry: 4 network words, then 4 mask words. */
  readonly v6: Int32Array;
}

const MAX_PREFIX: Record<IpFamily, number> = { 4: 32, 6: 128 };

/** "0" or a decimal without leading zeros or sign: "/08" or "/+8" would be a second spelling of "/8". */
function parsePrefix(s: string): number {
  if (s.length === 0 || s.length > 3 || (s.length > 1 && s.charCodeAt(0) === 0x30)) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

function maskBytes(bytes: Uint8Array, prefix: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & (0xff00 >> keep);
  }
}

/**
 * "203.0.113.0/24", "2001:db8::/32", or a bare address (a /32 or /128).
 * Surrounding whitespace is trimmed; nothing inside is tolerated.
 *
 * Normalisation:
 * - host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8): the range the user
 *   wrote is kept, only its spelling changes;
 * - an IPv4-mapped range that lies within ::ffff:0:0/96 becomes the IPv4
 *   range (::ffff:10.0.0.0/104 is 10.0.0.0/8, ::ffff:0:0/96 is 0.0.0.0/0),
 *   because mapped client addresses are matched as IPv4. A wider IPv6 range
 *   (::/0, ::/64) stays IPv6 and matches IPv6 clients only.
 */
export function parseCidr(s: string): Cidr | null {
  const text = s.trim();
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIpLiteral(address, false);
  if (!ip) return null;
  let prefix = MAX_PREFIX[ip.family];
  if (slash >= 0) {
    prefix = parsePrefix(text.slice(slash + 1));
    if (prefix < 0 || prefix > MAX_PREFIX[ip.family]) return null;
  }
  if (ip.family === 6 && prefix >= 96 && isIpv4Mapped(ip.bytes)) {
    const v4 = ip.bytes.slice(12, 16);
    maskBytes(v4, prefix - 96);
    return { family: 4, bytes: v4, prefix: prefix - 96 };
  }
  maskBytes(ip.bytes, prefix);
  return { family: ip.family, bytes: ip.bytes, prefix };
}

/** The normalised text: "10.0.0.0/8", "2001:db8::/32". Always carries the prefix. */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c)}/${c.prefix}`;
}

function word(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0);
}

/** The 32-bit mask for the part of prefix falling into the word starting at bit wordStart. */
function wordMask(prefix: number, wordStart: number): number {
  const bits = Math.min(32, Math.max(0, prefix - wordStart));
  // `<< 32` is `<< 0` in JS, so a zero-bit mask needs its own case.
  return bits === 0 ? 0 : -1 << (32 - bits);
}

/**
 * Compiles stored (already validated) entries once, so that a request pays
 * only integer compares. Throws on an entry parseCidr refuses: stored data
 * that does not parse is a bug, and guessing would fail open or closed at random.
 */
export function compileAllowlist(entries: readonly string[]): AllowlistMatcher {
  const v4: number[] = [];
  const v6: number[] = [];
  for (const [index, entry] of entries.entries()) {
    const c = parseCidr(entry);
    if (!c) throw new Error(`IP allowlist entry ${index} is not a CIDR`);
    if (c.family === 4) {
      v4.push(word(c.bytes, 0), wordMask(c.prefix, 0));
    } else {
      for (let w = 0; w < 4; w++) v6.push(word(c.bytes, w * 4));
      for (let w = 0; w < 4; w++) v6.push(wordMask(c.prefix, w * 32));
    }
  }
  return { size: entries.length, v4: Int32Array.from(v4), v6: Int32Array.from(v6) };
}

/** Reused by every match: Workers run one request's synchronous code at a time, and nothing here awaits. */
const scratch = new Uint8Array(16);

/**
 * May a request from clientIp use a key with this allowlist?
 * An empty list allows everyone (the caller normally skips the call then).
 * Otherwise the address must parse and fall inside an entry of its own family;
 * a missing or malformed address is refused, never treated as "unknown, allow".
 */
export function allowlistMatches(matcher: AllowlistMatcher, clientIp: string | undefined | null): boolean {
  if (matcher.size === 0) return true;
  if (typeof clientIp !== "string") return false;
  const family = scanIp(clientIp, scratch, true);
  if (family === 4) {
    const ip = word(scratch, 0);
    const list = matcher.v4;
    for (let i = 0; i < list.length; i += 2) {
      if ((ip & list[i + 1]!) === list[i]) return true;
    }
    return false;
  }
  if (family === 6) {
    const a = word(scratch, 0);
    const b = word(scratch, 4);
    const c = word(scratch, 8);
    const d = word(scratch, 12);
    const list = matcher.v6;
    for (let i = 0; i < list.length; i += 8) {
      if (
        (a & list[i + 4]!) === list[i] &&
        (b & list[i + 5]!) === list[i + 1] &&
        (c & list[i + 6]!) === list[i + 2] &&
        (d & list[i + 7]!) === list[i + 3]
      ) {
        return true;
      }
    }
  }
  return false;
}
