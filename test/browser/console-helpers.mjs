// What the console's browser tests share: calls to the worker from outside the
// browser (as a script would), session tokens, leak reports signed as GitHub
// signs them, a key record for mocked lists, and the in-page layout check.
import { randomBytes, sign } from "node:crypto";
import { expect, inject } from "vitest";
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

/**
 * Runs in the page (page.evaluate(findClipping, scrollers)): everything at the
 * current viewport that is cut off or sticks out, in words; [] when nothing is.
 *
 * - the document is wider than the viewport (the page scrolls sideways);
 * - a shown element reaches past the viewport's left or right edge, or past
 *   the inner edges of the nearest box that clips or scrolls it (a dialog, say:
 *   content pushed out to the left is cut without making anything scroll);
 * - a shown element's content is wider than its box (whatever its overflow:
 *   hidden cuts it, ellipsis shortens it, visible lets it spill over its
 *   border, auto makes it scroll), or taller than a box that hides overflow.
 *
 * `scrollers` is a selector for boxes meant to scroll sideways (a wide table's
 * wrapper): those may, and what is inside them may reach past the viewport.
 * Visually hidden elements (clip-path: inset(50%)) are for screen readers and
 * are left out.
 */
export function findClipping(scrollers = null) {
  const viewport = document.documentElement.clientWidth;
  const describe = (el) => {
    const classes = typeof el.className === "string" && el.className ? `.${el.className.trim().split(/\s+/).join(".")}` : "";
    const text = (el.textContent ?? "").replace(/\s+/g, " ").trim().slice(0, 50);
    return `<${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${classes}> "${text}"`;
  };
  const visuallyHidden = (el) => {
    for (let at = el; at; at = at.parentElement) if (getComputedStyle(at).clipPath === "inset(50%)") return true;
    return false;
  };
  const problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > viewport) problems.push(`the page scrolls sideways: ${page} px wide in a ${viewport} px viewport`);
  for (const el of document.body.querySelectorAll("*")) {
    if (el instanceof SVGElement && el.tagName !== "svg") continue; // inside a chart: scaled to its box
    if (!el.checkVisibility({ visibilityProperty: true })) continue;
    const box = el.getBoundingClientRect();
    if (!box.width && !box.height) continue;
    if (visuallyHidden(el)) continue;
    const style = getComputedStyle(el);
    const inScroller = !!(scrollers && el.parentElement?.closest(scrollers));
    const isScroller = !!(scrollers && el.matches(scrollers));
    if (!inScroller && (box.left < -0.5 || box.right > viewport + 0.5)) {
      problems.push(`${describe(el)} reaches past the viewport (${Math.round(box.left)}–${Math.round(box.right)} px of ${viewport})`);
    }
    let clipper = el.parentElement;
    while (clipper && clipper !== document.body && getComputedStyle(clipper).overflowX === "visible") clipper = clipper.parentElement;
    if (!inScroller && clipper && clipper !== document.body) {
      const inner = clipper.getBoundingClientRect().left + clipper.clientLeft;
      if (box.left < inner - 0.5 || box.right > inner + clipper.clientWidth + 0.5) {
        problems.push(`${describe(el)} reaches past the edge of ${describe(clipper)}, which cuts it`);
      }
    }
    if (style.display === "inline" || el.clientWidth === 0 || isScroller) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${describe(el)}: content ${el.scrollWidth} px wide in a ${el.clientWidth} px box (overflow-x: ${style.overflowX})`);
    }
    if ((style.overflowY === "hidden" || style.overflowY === "clip") && el.scrollHeight > el.clientHeight + 1) {
      problems.push(`${describe(el)}: content ${el.scrollHeight} px tall in a ${el.clientHeight} px box`);
    }
  }
  return problems;
}

/**
 * Waits until an open key dialog has loaded its usage and its request log.
 * They sit above the dialog's buttons and move them down as they arrive: on a
 * loaded machine a click aimed at a button before then can land on whatever
 * took its place.
 */
export async function keyDialogLoaded(dialog) {
  await expect.poll(() => dialog.isVisible()).toBe(true);
  await expect
    .poll(
      async () =>
        (await dialog.locator("#usage-summary").textContent()) !== "Loading usage…" &&
        (await dialog.locator("#requests-table[aria-busy]").count()) === 0,
    )
    .toBe(true);
}
