export const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * `length` base62 characters from crypto.getRandomValues. Bytes >= 248 are
 * dropped (rejection sampling) so every character is exactly uniform: 248 is
 * the largest multiple of 62 below 256, and `byte % 62` on all 256 values
 * would favour the first eight characters.
 */
export function randomBase62(length: number): string {
  let out = "";
  const buf = new Uint8Array(length + 16);
  while (out.length < length) {
    crypto.getRandomValues(buf);
    for (const b of buf) {
      if (b < 248) out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** `n` (an unsigned 32-bit integer) as exactly `width` base62 characters. */
export function encodeBase62Fixed(n: number, width: number): string {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}
