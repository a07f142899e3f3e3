// What the console's browser tests share: calls to the worker from outside the
// browser (as a script would), session tokens, leak reports signed as GitHub
// signs them, a key record for mocked lists.
import { randomBytes, sign } from "node:crypto";
import { inject } from "vitest";
import { signSession } from "../../scripts/session-token.mjs";

export const base = () => inject("workerBase");

/** A console session token for workspace `ws`. */
export const sessionToken = (ws, role = "admin", sub = "usr_browser_admin") => signSession(inject("sessionSecret"), { sub, ws, role });

export const newWorkspace = () => `ws_browser_${randomBytes(5).toString("hex")}`;

/** A call to the API from outside the browser, like a script. */
export async function call(method, path, credential, body) {
  const res = await fetch(base() + path, {
    method,
    headers: { Authorization: `Bearer ${credential}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A leak report for `keys`, signed as GitHub signs one, sent to the secret scanning endpoint. */
export async function reportLeak(keys, url) {
  const signer = inject("secretScanningSigner");
  const body = JSON.stringify(keys.map((token) => ({ token, type: "owlish_api_key", url, source: "content" })));
  const signature = sign("sha256", Buffer.from(body), signer.privateKeyPem).toString("base64"); // DER, as GitHub sends it
  const res = await fetch(`${base()}/v1/secret-scanning/github`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Github-Public-Key-Identifier": signer.identifier,
      "Github-Public-Key-Signature": signature,
    },
    body,
  });
  return { status: res.status, body: await res.json() };
}

/** A key as the API lists it, for lists answered by page.route(). */
export const keyRecord = (over) => ({
  id: "key_x",
  name: "x",
  prefix: "sk_live_AbCd",
  scopes: ["sources:read"],
  createdAt: new Date(Date.now() - 3 * 86_400_000).toISOString(),
  createdBy: "usr_a",
  lastUsedAt: null,
  expiresAt: null,
  revokedAt: null,
  revokedBy: null,
  revocationReason: null,
  rolledFrom: null,
  rolledTo: null,
  ipAllowlist: [],
  rateLimit: null,
  lastUsedIp: null,
  lastUsedCountry: null,
  ...over,
});

/** Answers the page's key lists with `active` and `revoked` (records), instead of the worker. */
export function answerLists(page, { active = [], revoked = [] }) {
  return page.route("**/v1/api-keys?status=*", (route) => {
    const data = route.request().url().includes("status=active") ? active : revoked;
    return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ data, nextCursor: null }) });
  });
}
