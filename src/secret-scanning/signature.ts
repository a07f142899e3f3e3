import { BoundedMap } from "../lib/bounded-map";
import { derToRawSignature } from "./der";

/**
 * Checking GitHub's signature on a secret scanning request: the
 * `Github-Public-Key-Signature` header is base64 of an ECDSA P-256 / SHA-256
 * signature in DER over the request body exactly as received.
 */

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const VERIFY_PARAMS = { name: "ECDSA", hash: "SHA-256" } as const;

/**
 * A DER P-256 signature is at most 72 bytes (96 base64 characters); a longer
 * header is refused before any decoding work. The margin allows nothing real.
 */
const MAX_SIGNATURE_B64_LENGTH = 128;

/** PEMs are a few hundred characters; a bigger one is not a P-256 SPKI key. */
const MAX_PEM_LENGTH = 4_096;

/**
 * Imported keys by PEM text. GitHub publishes a handful of keys, so a few
 * entries are plenty; the bound only keeps a misconfiguration from growing it.
 * The promise is cached, so concurrent first uses share one import; a PEM that
 * fails to import is cached as null (the failure is deterministic).
 */
const MAX_CACHED_KEYS = 16;
const importedKeys = new BoundedMap<string, Promise<CryptoKey | null>>({ maxEntries: MAX_CACHED_KEYS });

/**
 * True only when `signatureB64` is a valid signature of `rawBody` by the key
 * in `publicKeyPem`. False for anything malformed; never throws.
 *
 * `rawBody` must be the bytes received, before any JSON parsing: re-serialised
 * JSON would differ in whitespace or key order and the signature would fail.
 */
export async function verifyGithubSignature(
  rawBody: ArrayBuffer | Uint8Array,
  signatureB64: string,
  publicKeyPem: string,
): Promise<boolean> {
  try {
    const der = decodeBase64(signatureB64, MAX_SIGNATURE_B64_LENGTH);
    if (!der) return false;
    const raw = derToRawSignature(der, 32);
    if (!raw) return false;
    const key = await importPublicKey(publicKeyPem);
    if (!key) return false;
    // Request bodies are never SharedArrayBuffer-backed; the DOM typings of WebCrypto insist on saying so.
    return await crypto.subtle.verify(VERIFY_PARAMS, key, raw, rawBody as ArrayBuffer | Uint8Array<ArrayBuffer>);
  } catch {
    // A verifier that throws could turn a bad request into a 500; the only
    // honest answer to anything we cannot check is "not verified".
    return false;
  }
}

function importPublicKey(pem: string): Promise<CryptoKey | null> {
  let pending = importedKeys.get(pem);
  if (!pending) {
    pending = importSpki(pem);
    // When full, the oldest import is dropped.
    importedKeys.set(pem, pending);
  }
  return pending;
}

const PEM_PATTERN = /^-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----$/;

async function importSpki(pem: string): Promise<CryptoKey | null> {
  if (pem.length > MAX_PEM_LENGTH) return null;
  // Only an SPKI "PUBLIC KEY" block: not a certificate, not a private key,
  // not "EC PUBLIC KEY" (a bare point WebCrypto cannot import as SPKI).
  const body = PEM_PATTERN.exec(pem.trim())?.[1];
  if (body === undefined) return null;
  const spki = decodeBase64(body.replace(/\s+/g, ""), MAX_PEM_LENGTH);
  if (!spki) return null;
  try {
    // Importing as P-256 makes WebCrypto refuse a key on any other curve or
    // of another type, so a key swap in the document cannot change the
    // algorithm we verify with. Not extractable, verify only.
    return await crypto.subtle.importKey("spki", spki, ECDSA_P256, false, ["verify"]);
  } catch {
    return null;
  }
}

/**
 * Standard base64 (RFC 4648 §4), padding optional. Decision: missing padding
 * is tolerated because it carries no information (the length says how many
 * bytes the last group holds) and some proxies strip `=`; anything else that
 * is not the standard alphabet (spaces, url-safe `-_`, stray `=`) is garbage
 * and refused, rather than left to atob's forgiving parser. The decoded bytes
 * still go through the strict DER parser and the signature check, so
 * tolerance here cannot make a wrong signature pass.
 */
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

function decodeBase64(text: string, maxLength: number): Uint8Array<ArrayBuffer> | null {
  if (text.length === 0 || text.length > maxLength || !BASE64_PATTERN.test(text)) return null;
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
