import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

/** Hex SHA-256 of a key: the only form in which a key is ever stored. */
export function hashKey(key: string): string {
  return bytesToHex(sha256(utf8(key)));
}

/**
 * The UTF-8 bytes of `text`. Keys are ASCII, whose UTF-8 is the character
 * codes themselves: copying them is far cheaper than a TextEncoder call, and
 * this runs on every key request. Anything else goes through the encoder.
 */
function utf8(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return utf8ToBytes(text);
    bytes[i] = code;
  }
  return bytes;
}
