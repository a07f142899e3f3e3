/** A key's details dialog, and revoking it after a confirmation (active keys only). */
import { ApiError, type KeyRecord, revokeKey } from "./api";
import { openDialog, registerDialog, returnFocusTo } from "./dialogs";
import { byId, type Child, fieldError, h, show } from "./dom";
import { dropActive, loadAll } from "./key-tables";
import { timeEl } from "./time";

let dialog: HTMLDialogElement;
let openKey: KeyRecord | null = null;

export function initKeyDialog(): void {
  dialog = registerDialog("key-dialog");
  byId("key-close").addEventListener("click", () => dialog.close());
  byId("revoke-start").addEventListener("click", askRevoke);
  byId("revoke-cancel").addEventListener("click", cancelRevoke);
  byId("revoke-confirm-button").addEventListener("click", () => void confirmRevoke());
  dialog.addEventListener("close", () => {
    openKey = null;
  });
}

/** One term and its value in the details list. */
function detail(list: HTMLElement, term: string, value: Child): void {
  list.appendChild(h("dt", { text: term }));
  list.appendChild(h("dd", null, value));
}

export function openKeyDialog(key: KeyRecord, from: HTMLElement): void {
  openKey = key;
  byId("key-title").textContent = key.name;
  const dl = byId("key-details");
  dl.textContent = "";
  detail(dl, "Prefix", h("code", { text: `${key.prefix}…` }));
  detail(dl, "Scopes", key.scopes.join(", "));
  detail(dl, "Last used", timeEl(key.lastUsedAt));
  detail(dl, "Created", h("span", null, timeEl(key.createdAt), ` by ${key.createdBy}`));
  detail(dl, "Expires", timeEl(key.expiresAt, "Never"));
  if (key.revokedAt) detail(dl, "Revoked", h("span", null, timeEl(key.revokedAt), key.revokedBy ? ` by ${key.revokedBy}` : ""));
  show(byId("revoke-start"), !key.revokedAt);
  show(byId("key-actions"), true);
  show(byId("revoke-confirm"), false);
  fieldError("revoke-error", "");
  openDialog(dialog, from);
  byId(key.revokedAt ? "key-close" : "revoke-start").focus();
}

function askRevoke(): void {
  if (!openKey) return;
  const question = byId("revoke-question");
  question.textContent = "";
  question.appendChild(h("strong", { text: `Revoke “${openKey.name}”?` }));
  question.appendChild(document.createTextNode(" Anything using this key stops working at once. Revocation is final: the key can't be reactivated."));
  // While it asks, the only ways on are the two answers.
  show(byId("key-actions"), false);
  show(byId("revoke-confirm"), true);
  byId("revoke-cancel").focus();
}

function cancelRevoke(): void {
  show(byId("revoke-confirm"), false);
  show(byId("key-actions"), true);
  byId("revoke-start").focus();
}

async function confirmRevoke(): Promise<void> {
  const key = openKey;
  if (!key) return;
  const button = byId<HTMLButtonElement>("revoke-confirm-button");
  button.disabled = true;
  button.textContent = "Revoking…";
  try {
    const revoked = await revokeKey(key.id);
    returnFocusTo(byId("create-open")); // the key's row leaves the table
    dialog.close();
    byId("notice").textContent = `Revoked “${revoked.name}”. It now appears under Revoked keys.`;
    dropActive(key.id);
    loadAll();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status !== 401) fieldError("revoke-error", `The key was not revoked: ${error.message}`);
  }
  button.disabled = false;
  button.textContent = "Revoke key";
}
