/**
 * The key dialog's edit form: the name, the IP allowlist and the rate limit,
 * saved with PATCH. The API's field errors are shown at their fields. Scopes
 * never change (the API refuses it): the form does not offer them.
 */
import { ApiError, updateKey } from "./api";
import { returnFocusTo } from "./dialogs";
import { byId, fieldError } from "./dom";
import { fillGuards, readGuards, showGuardErrors } from "./guard-fields";
import { showKey, shownKey, showPanel } from "./key-dialog";
import { replaceKey } from "./key-tables";

export function initKeyEdit(): void {
  byId("edit-start").addEventListener("click", startEdit);
  byId("edit-cancel").addEventListener("click", () => showPanel("actions", "edit-start"));
  byId("edit-form").addEventListener("submit", (event) => void submitEdit(event));
}

function startEdit(): void {
  const key = shownKey();
  if (!key) return;
  const name = byId<HTMLInputElement>("edit-name");
  name.value = key.name;
  name.removeAttribute("aria-invalid");
  fieldError("edit-name-error", "");
  fieldError("edit-error", "");
  fillGuards("edit", key);
  showPanel("edit", "edit-name");
}

async function submitEdit(event: Event): Promise<void> {
  event.preventDefault();
  const key = shownKey();
  if (!key) return;
  const nameInput = byId<HTMLInputElement>("edit-name");
  const name = nameInput.value.trim();
  fieldError("edit-error", "");
  fieldError("edit-name-error", name ? "" : "Give the key a name.");
  if (!name) {
    nameInput.setAttribute("aria-invalid", "true");
    nameInput.focus();
    return;
  }
  nameInput.removeAttribute("aria-invalid");
  const guards = readGuards("edit");
  if (!guards) return;

  const submit = byId<HTMLButtonElement>("edit-submit");
  submit.disabled = true;
  submit.textContent = "Saving…";
  try {
    // The whole state of the form: fields left as they were change nothing (the API records only what changed).
    const updated = await updateKey(key.id, { name, ipAllowlist: guards.ipAllowlist, rateLimit: guards.rateLimit });
    if (shownKey()?.id === key.id) {
      showKey(updated);
      showPanel("actions", "edit-start");
    }
    // Its row is rebuilt: focus goes back to the new one when the dialog closes.
    returnFocusTo(replaceKey(updated));
    byId("notice").textContent = `Saved changes to “${updated.name}”.`;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status !== 401) {
      const nameErrors = error.errors.filter((e) => e.path === "name").map((e) => e.message);
      if (nameErrors.length) {
        fieldError("edit-name-error", nameErrors.join(" "));
        nameInput.setAttribute("aria-invalid", "true");
      }
      showGuardErrors("edit", error.errors);
      if (nameErrors.length) nameInput.focus();
      fieldError("edit-error", `The changes were not saved: ${error.message}`);
    }
  }
  submit.disabled = false;
  submit.textContent = "Save changes";
}
