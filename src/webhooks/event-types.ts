/**
 * The key events an endpoint can subscribe to, with what each means. A leaf
 * (imports nothing): the console page renders its event choices from it at
 * build time.
 */
export const KEY_EVENT_TYPES = [
  "api_key.created",
  "api_key.updated",
  "api_key.rolled",
  "api_key.revoked",
  "api_key.expiring",
  "api_key.expired",
  "api_key.used_after_revoke",
  "api_key.idle",
] as const;
export type KeyEventType = (typeof KEY_EVENT_TYPES)[number];

export const KEY_EVENT_DESCRIPTIONS: Record<KeyEventType, string> = {
  "api_key.created": "A key was created (also the new key of a roll).",
  "api_key.updated": "A key's name, IP allowlist or rate limit changed.",
  "api_key.rolled": "A key was replaced by a new one; it stops at the end of the overlap.",
  "api_key.revoked": "A key was revoked: by an admin, by itself, or because it leaked.",
  "api_key.expiring": "A key expires in 14, 7 or 1 days.",
  "api_key.expired": "A key's expiry has passed.",
  "api_key.used_after_revoke": "A revoked key was presented (at most once per key per hour): something still holds it.",
  "api_key.idle": "A key is about to be revoked by the idle policy.",
};
