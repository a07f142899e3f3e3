/**
 * "Your new API key": the full key, shown once, with a Copy button. When the
 * dialog closes (Done, Escape) the key is removed from the page and from this
 * module: nothing keeps it.
 */
import type { CreatedKey } from "./api";
import { copyShown } from "./clipboard";
import { openDialog, registerDialog } from "./dialogs";
import { byId, show } from "./dom";

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

/** Shows a new key (created or rolled) once; `note` says more about it (what a rolled key replaces). */
export function showSecret(created: CreatedKey, note = ""): void {
  secret = created.key;
  byId("secret-name").textContent = `“${created.name}” · ${created.scopes.join(", ")}`;
  byId("secret-note").textContent = note;
  show(byId("secret-note"), !!note);
  byId("secret-value").textContent = secret;
  byId("secret-copied").textContent = "";
  openDialog(dialog, byId("create-open"));
  byId("secret-copy").focus();
}

function forgetSecret(): void {
  secret = null;
  byId("secret-value").textContent = "";
  byId("secret-name").textContent = "";
  byId("secret-note").textContent = "";
  byId("secret-copied").textContent = "";
}

function copySecret(): void {
  if (secret) copyShown(secret, byId("secret-value"), byId("secret-copied"));
}
