import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

/** Hex SHA-256 of a key: the only form in which a key is ever stored. */
export function hashKey(key: string): string {
  return bytesToHex(sha256(utf8ToBytes(key)));
}
