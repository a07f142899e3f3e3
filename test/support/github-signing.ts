/**
 * Signing like GitHub's secret scanning does, for tests: ECDSA P-256 /
 * SHA-256 over the raw body, DER-encoded, base64. WebCrypto signs in the raw
 * r‖s form, so a small DER encoder (independent of the code under test)
 * turns its output into what GitHub sends.
 */

const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A TLV with a short-form length (all the tests need, except where noted). */
export function tlv(tag: number, content: Uint8Array | number[]): Uint8Array {
  if (content.length > 127) throw new Error("tlv: use a long-form length by hand");
  return concat([tag, content.length], content);
}

/** Minimal DER INTEGER content of an unsigned big-endian number: leading zeros dropped, 0x00 added before a set high bit. */
export function derIntegerContent(unsigned: Uint8Array): Uint8Array {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  const digits = unsigned.subarray(i);
  return (digits[0] ?? 0) & 0x80 ? concat([0x00], digits) : digits;
}

/** Raw r‖s (WebCrypto) → DER SEQUENCE { INTEGER r, INTEGER s } (GitHub). */
export function rawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return tlv(0x30, concat(tlv(0x02, derIntegerContent(raw.subarray(0, half))), tlv(0x02, derIntegerContent(raw.subarray(half)))));
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

export async function generateKeyPair(namedCurve = "P-256"): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve }, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** SPKI PEM, 64 characters a line, as GitHub publishes it. */
export async function toPem(publicKey: CryptoKey): Promise<string> {
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", publicKey)) as ArrayBuffer);
  const lines = toBase64(spki).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join("\n")}\n-----END PUBLIC KEY-----\n`;
}

export async function signRaw(privateKey: CryptoKey, body: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(SIGN, privateKey, body));
}

export async function signDer(privateKey: CryptoKey, body: Uint8Array): Promise<Uint8Array> {
  return rawToDer(await signRaw(privateKey, body));
}

/** A signing key pair and the public keys document GitHub would serve for it. */
export interface GithubSigner {
  identifier: string;
  keyPair: CryptoKeyPair;
  pem: string;
  /** The `Github-Public-Key-Identifier` and `Github-Public-Key-Signature` headers for `body`. */
  sign(body: string | Uint8Array): Promise<Record<string, string>>;
}

export async function githubSigner(identifier = toHex(crypto.getRandomValues(new Uint8Array(32)))): Promise<GithubSigner> {
  const keyPair = await generateKeyPair();
  const pem = await toPem(keyPair.publicKey);
  return {
    identifier,
    keyPair,
    pem,
    async sign(body) {
      const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
      return {
        "Github-Public-Key-Identifier": identifier,
        "Github-Public-Key-Signature": toBase64(await signDer(keyPair.privateKey, bytes)),
      };
    },
  };
}

/** The JSON document of https://api.github.com/meta/public_keys/secret_scanning, listing these signers. */
export function publicKeysDocument(...signers: Pick<GithubSigner, "identifier" | "pem">[]): string {
  return JSON.stringify({ public_keys: signers.map((s) => ({ key_identifier: s.identifier, key: s.pem, is_current: true })) });
}

export function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
