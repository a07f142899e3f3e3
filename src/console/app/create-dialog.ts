/**
 * "Create API key": a name and the scopes, and under "More options" (closed
 * by default, so the usual key takes two fields) an IP allowlist and a rate
 * limit. Checked here first, then by the API; its field errors are shown at
 * their fields.
 */
import { ApiError, type CreateKeyInput, createKey } from "./api";
import { openDialog, registerDialog } from "./dialogs";
import { byId, fieldError } from "./dom";
import { clearGuardErrors, readGuards, showGuardErrors } from "./guard-fields";
import { showCreated } from "./key-tables";
import { showSecret } from "./secret-dialog";

let dialog: HTMLDialogElement;

export function initCreateDialog(): void {
  dialog = registerDialog("create-dialog");
  byId("create-open").addEventListener("click", openCreate);
  byId("create-form").addEventListener("submit", (event) => void submitCreate(event));
  byId("create-cancel").addEventListener("click", () => dialog.close());
}

function openCreate(): void {
  byId<HTMLFormElement>("create-form").reset();
  byId<HTMLDetailsElement>("create-more").open = false;
  clearGuardErrors("create");
  fieldError("key-name-error", "");
  fieldError("scopes-error", "");
  fieldError("create-error", "");
  byId("key-name").removeAttribute("aria-invalid");
  openDialog(dialog, byId("create-open"));
  byId("key-name").focus();
}

const scopeBoxes = (selector = "") => [...document.querySelectorAll<HTMLInputElement>(`#create-form input[name=scopes]${selector}`)];

async function submitCreate(event: Event): Promise<void> {
  event.preventDefault();
  const nameInput = byId<HTMLInputElement>("key-name");
  const name = nameInput.value.trim();
  // The page lists exactly the scopes the API knows (page.ts renders them from the same table); the API checks them again.
  const scopes = scopeBoxes(":checked").map((box) => box.value) as CreateKeyInput["scopes"];
  fieldError("key-name-error", name ? "" : "Give the key a name.");
  fieldError("scopes-error", scopes.length ? "" : "Choose at least one scope.");
  fieldError("create-error", "");
  if (!name) {
    nameInput.setAttribute("aria-invalid", "true");
    nameInput.focus();
    return;
  }
  nameInput.removeAttribute("aria-invalid");
  if (!scopes.length) {
    scopeBoxes()[0]?.focus();
    return;
  }
  const guards = readGuards("create");
  if (!guards) return revealMore();

  const submit = byId<HTMLButtonElement>("create-submit");
  submit.disabled = true;
  submit.textContent = "Creating…";
  try {
    // Sent only when set: a plain key's request stays a name and scopes.
    const created = await createKey({
      name,
      scopes,
      ...(guards.ipAllowlist.length ? { ipAllowlist: guards.ipAllowlist } : {}),
      ...(guards.rateLimit ? { rateLimit: guards.rateLimit } : {}),
    });
    dialog.close();
    showSecret(created);
    // The list keeps the record only: the secret stays in the dialog that shows it once.
    const { key: _secret, ...record } = created;
    showCreated(record);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status !== 401) {
      const byField = new Map(error.errors.map((e) => [e.path.split(".")[0], e.message]));
      if (byField.has("name")) fieldError("key-name-error", byField.get("name")!);
      if (byField.has("scopes")) fieldError("scopes-error", byField.get("scopes")!);
      if (showGuardErrors("create", error.errors)) revealMore();
      fieldError("create-error", `The key was not created: ${error.message}`);
    }
  }
  submit.disabled = false;
  submit.textContent = "Create key";
}

/** Opens "More options" to show a refused field there, and focuses it (a closed <details> hides its fields from focus). */
function revealMore(): void {
  const more = byId<HTMLDetailsElement>("create-more");
  more.open = true;
  more.querySelector<HTMLElement>("[aria-invalid=true]")?.focus();
}
