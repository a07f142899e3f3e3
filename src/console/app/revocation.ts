/**
 * Why a key was revoked, in words: by which admin, by itself, or leaked and
 * where it was found. The place of a leak is in the key's `api_key.revoked`
 * audit event (details.url), fetched once per leaked key shown.
 *
 * That URL comes from an outside report: it is shown as text to select and
 * copy, never as a link, so nothing on this page sends an admin to it.
 */
import { ApiError, type KeyRecord, keyAuditEvents } from "./api";
import { h } from "./dom";

const leakUrls = new Map<string, Promise<string | null>>();

/** Drops what was fetched (sign-out: the next session may see another workspace). */
export function forgetLeakUrls(): void {
  leakUrls.clear();
}

function leakUrl(keyId: string): Promise<string | null> {
  let pending = leakUrls.get(keyId);
  if (!pending) {
    pending = keyAuditEvents(keyId).then((page) => {
      const url = page.data.find((event) => event.action === "api_key.revoked")?.details?.url;
      return typeof url === "string" && url ? url : null;
    });
    // A failed lookup is tried again the next time the key is shown.
    pending.catch(() => leakUrls.delete(keyId));
    leakUrls.set(keyId, pending);
  }
  return pending;
}

/** "Revoked by usr_ada", "Revoked by itself", "Idle: revoked by the key policy", "Leaked: found at <url>" (the URL filled in when its event arrives). */
export function revocationReason(key: KeyRecord): HTMLElement {
  switch (key.revocationReason) {
    case "self":
      return h("span", { text: "Revoked by itself" });
    case "idle":
      return h("span", { text: "Idle: revoked by the key policy" });
    case "leaked": {
      const el = h("span", { className: "leak", text: "Leaked" });
      leakUrl(key.id).then(
        (url) => {
          el.textContent = url ? "Leaked: found at " : "Leaked (reported by secret scanning)";
          if (url) el.appendChild(h("span", { className: "url", text: url }));
        },
        (error: unknown) => {
          if (!(error instanceof ApiError)) throw error;
          if (error.status !== 401) el.textContent = `Leaked (where it was found could not be loaded: ${error.message})`;
        },
      );
      return el;
    }
    default:
      // "admin", and keys revoked before reasons were recorded.
      return h("span", { text: key.revokedBy ? `Revoked by ${key.revokedBy}` : "Revoked" });
  }
}
