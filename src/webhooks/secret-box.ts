/**
 * Webhook signing secrets: made here, shown once, stored encrypted.
 *
 * A secret is `whsec_` + base64 of 32 random bytes (Standard Webhooks).
 * At rest it is sealed with AES-256-GCM under a key of the Worker secret
 * WEBHOOK_SECRET_KEYS, with the endpoint's id as additional data (a sealed
 * secret copied onto another endpoint does not open). So a dump of D1 alone
 * cannot sign a delivery: it also takes the Worker secret.
 *
 * WEBHOOK_SECRET_KEYS is one or more `<id>:<base64 of 32 bytes>`, separated
 * by commas or white space. The first key seals; any listed key opens. To
 * rotate: put a new key first and keep the old ones after it; the cron
 * re-seals every secret under the first key (src/webhooks/sweep.ts) and logs
 * how many are left; once none is, drop the old key (docs/webhooks.md).
 */

const SECRET_BYTES = 32;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const SEALED_VERSION = "v1";
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export const SECRET_PREFIX = "whsec_";

/** One key of WEBHOOK_SECRET_KEYS: its id (written into each sealed secret) and its 32 bytes. */
export interface SecretKey {
  id: string;
  bytes: Bytes;
}

type Bytes = Uint8Array<ArrayBuffer>;

/**
 * WEBHOOK_SECRET_KEYS parsed: the keys in order (the first seals). Throws an
 * Error whose message names the variable and what is wrong, never a value.
 */
export function parseSecretKeys(raw: string | undefined): SecretKey[] {
  const entries = (raw ?? "").split(/[\s,]+/).filter((e) => e !== "");
  if (entries.length === 0) throw new Error("WEBHOOK_SECRET_KEYS is not set");
  const keys: SecretKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(":");
    const id = entry.slice(0, colon);
    if (colon < 0 || !KEY_ID.test(id)) {
      throw new Error(`WEBHOOK_SECRET_KEYS entry ${i + 1} must be <id>:<base64 of ${KEY_BYTES} bytes>, the id 1–32 of A-Z a-z 0-9 _ -`);
    }
    const bytes = decodeBase64(entry.slice(colon + 1));
    if (bytes?.length !== KEY_BYTES) throw new Error(`WEBHOOK_SECRET_KEYS key "${id}" must be base64 of exactly ${KEY_BYTES} bytes`);
    if (keys.some((k) => k.id === id)) throw new Error(`WEBHOOK_SECRET_KEYS names the key id "${id}" twice`);
    keys.push({ id, bytes });
  }
  return keys;
}

/** A new signing secret, as the endpoint's owner sees it once: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return SECRET_PREFIX + encodeBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** The bytes an HMAC is keyed with: the secret without `whsec_`, base64-decoded. */
export function secretBytes(secret: string): Bytes {
  const bytes = decodeBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
  if (!bytes || bytes.length === 0) throw new Error("not a webhook signing secret");
  return bytes;
}

/** The id of the key a sealed secret was sealed with (to find those the first key did not seal). */
export function sealedWith(sealed: string): string | null {
  const [version, keyId] = sealed.split(":");
  return version === SEALED_VERSION && keyId ? keyId : null;
}

/** `v1:<key id>:<iv>:<ciphertext and tag>`, base64url: the secret sealed under the first key, bound to the endpoint. */
export async function sealSecret(keys: readonly SecretKey[], endpointId: string, secret: string): Promise<string> {
  const key = keys[0];
  if (!key) throw new Error("no webhook secret key");
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8(endpointId) }, await aesKey(key), utf8(secret));
  return [SEALED_VERSION, key.id, encodeBase64Url(iv), encodeBase64Url(new Uint8Array(sealed))].join(":");
}

/** The secret a sealed value holds, with whichever listed key sealed it; throws when none did or it was tampered with. */
export async function openSecret(keys: readonly SecretKey[], endpointId: string, sealed: string): Promise<string> {
  const [version, keyId, iv, data, extra] = sealed.split(":");
  if (version !== SEALED_VERSION || !keyId || !iv || !data || extra !== undefined) throw new Error("not a sealed webhook secret");
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new Error(`the webhook secret key "${keyId}" is no longer in WEBHOOK_SECRET_KEYS`);
  const ivBytes = decodeBase64Url(iv);
  const dataBytes = decodeBase64Url(data);
  if (!ivBytes || !dataBytes) throw new Error("not a sealed webhook secret");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: ivBytes, additionalData: utf8(endpointId) },
    await aesKey(key),
    dataBytes,
  );
  return new TextDecoder().decode(plain);
}

// Imported once per key and isolate (importKey is not free; a batch of deliveries opens many secrets).
const imported = new WeakMap<Bytes, Promise<CryptoKey>>();
function aesKey(key: SecretKey): Promise<CryptoKey> {
  let k = imported.get(key.bytes);
  if (!k) {
    k = crypto.subtle.importKey("raw", key.bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
    imported.set(key.bytes, k);
  }
  return k;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

export function encodeBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

const encodeBase64Url = (bytes: Uint8Array) => encodeBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

function decodeBase64(text: string): Bytes | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return null;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function decodeBase64Url(text: string): Bytes | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  return decodeBase64(text.replaceAll("-", "+").replaceAll("_", "/"));
}
