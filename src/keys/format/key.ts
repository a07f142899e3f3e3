import { encodeBase62Fixed, randomBase62 } from "../../lib/base62";
import { crc32 } from "./checksum";

/**
 * Key format: `sk_live_` + 32 random base62 characters (190 bits, well above
 * the 128-bit floor) + 6 base62 characters of CRC-32 over everything before
 * them. The checksum lets us refuse typos and made-up keys without touching
 * storage, and lets secret scanners match real keys with KEY_PATTERN.
 */
export const KEY_PREFIX = "sk_live_";
export const RANDOM_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;
const KEY_LENGTH = KEY_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
/** How much of the key the console may show: `sk_live_` plus 4 characters. */
const DISPLAY_PREFIX_LENGTH = KEY_PREFIX.length + 4;

const KEY_PATTERN = /^sk_live_[0-9A-Za-z]{38}$/;

function checksum(body: string): string {
  return encodeBase62Fixed(crc32(body), CHECKSUM_LENGTH);
}

export function generateKey(): string {
  const body = KEY_PREFIX + randomBase62(RANDOM_LENGTH);
  return body + checksum(body);
}

/** True when `candidate` has the exact shape of a key and its checksum holds. */
export function isWellFormedKey(candidate: string): boolean {
  if (candidate.length !== KEY_LENGTH || !KEY_PATTERN.test(candidate)) return false;
  const body = candidate.slice(0, KEY_LENGTH - CHECKSUM_LENGTH);
  return candidate.slice(KEY_LENGTH - CHECKSUM_LENGTH) === checksum(body);
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}
