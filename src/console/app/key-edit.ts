/**
 * The key dialog's edit form: the name, the IP allowlist and the rate limit,
 * saved with PATCH. The API's field errors are shown at their fields. Scopes
 * never change (the API refuses it): the form does not offer them. Under a
 * key policy that requires an IP allowlist, a key's list cannot be emptied
 * (a key made before the policy, without one, is told what that means).
 */
import { ApiError, type KeyPolicy, type KeyRecord, updateKey } from "./api";
import { returnFocusTo } from "./dialogs";
import { byId, fieldError } from "./dom";
import { fillGuards, readGuards, requireAllowlist, showGuardErrors } from "./guard-fields";
import { showKey, shownKey, showPanel } from "./key-dialog";
import { replaceKey } from "./key-tables";
import { knownPolicy, refreshPolicy } from "./policy";

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
  showPolicy(key, knownPolicy());
  showPanel("edit", "edit-name");
  void refreshPolicy().then((policy) => {
    if (shownKey()?.id === key.id && !byId("edit-form").hidden) showPolicy(key, policy);
  });
}

function showPolicy(key: KeyRecord, policy: KeyPolicy | null): void {
  const required = !!policy?.requireIpAllowlist;
  // The policy forbids emptying a list; a key that has none keeps none until someone gives it one.
  requireAllowlist("edit", required && key.ipAllowlist.length > 0);
  const note = byId("edit-policy");
  note.textContent =
    required && key.ipAllowlist.length === 0
      ? "Your workspace's key policy requires an IP allowlist. This key was made without one: it keeps working, but it can't be rolled until it has one, and once given one it can't be emptied."
      : "";
  note.hidden = !note.textContent;
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
