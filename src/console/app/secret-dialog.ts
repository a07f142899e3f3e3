/**
 * "Your new API key": the full key, shown once, with a Copy button. When the
 * dialog closes (Done, Escape) the key is removed from the page and from this
 * module: nothing keeps it.
 */
import type { CreatedKey } from "./api";
import { openDialog, registerDialog } from "./dialogs";
import { byId } from "./dom";

let secret: string | null = null;
let dialog: HTMLDialogElement;

export function initSecretDialog(): void {
  dialog = registerDialog("secret-dialog");
  byId("secret-copy").addEventListener("click", copySecret);
  byId("secret-done").addEventListener("click", () => {
    forgetSecret();
    dialog.close();
  });
  dialog.addEventListener("close", forgetSecret); // Escape closes it too
  dialog.addEventListener("cancel", forgetSecret);
}

export function showSecret(created: CreatedKey): void {
  secret = created.key;
  byId("secret-name").textContent = `“${created.name}” · ${created.scopes.join(", ")}`;
  byId("secret-value").textContent = secret;
  byId("secret-copied").textContent = "";
  openDialog(dialog, byId("create-open"));
  byId("secret-copy").focus();
}

function forgetSecret(): void {
  secret = null;
  byId("secret-value").textContent = "";
  byId("secret-name").textContent = "";
  byId("secret-copied").textContent = "";
}

function copySecret(): void {
  if (!secret) return;
  const copied = byId("secret-copied");
  const done = () => {
    copied.textContent = "Copied to the clipboard.";
  };
  // Without the async clipboard (an insecure context, or refused): select the key and copy the selection.
  const fallback = () => {
    const range = document.createRange();
    range.selectNodeContents(byId("secret-value"));
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    selection?.removeAllRanges();
    copied.textContent = ok ? "Copied to the clipboard." : "Copying failed: select the key and copy it yourself.";
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(secret).then(done, fallback);
  else fallback();
}
