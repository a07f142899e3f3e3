import { encodeBase64, secretBytes } from "./secret-box";

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/): the headers
 * `webhook-id` (the delivery's id, the same on every attempt),
 * `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
 * (`v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with
 * the secret's decoded bytes). Any Standard Webhooks verifier accepts them.
 */
export async function signatureHeaders(secret: string, id: string, nowMs: number, body: string): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const key = await crypto.subtle.importKey("raw", secretBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return {
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": `v1,${encodeBase64(new Uint8Array(mac))}`,
  };
}
