/**
 * "Create API key": a name and the scopes, and under "More options" (closed
 * by default, so the usual key takes two fields) an expiry date, an IP
 * allowlist and a rate limit. Checked here first, then by the API; its field
 * errors are shown at their fields.
 *
 * The workspace's key policy (policy.ts) is said above the options: the
 * expiry picker stops at the longest lifetime allowed (left empty, the key
 * gets that longest), and a required allowlist is marked and checked, with
 * "More options" open so it is seen.
 */
import { ApiError, type CreateKeyInput, createKey, type KeyPolicy } from "./api";
import { openDialog, registerDialog } from "./dialogs";
import { byId, fieldError } from "./dom";
import { clearGuardErrors, readGuards, requireAllowlist, showGuardErrors } from "./guard-fields";
import { showCreated } from "./key-tables";
import { dateValue, dayLabel, days, knownPolicy, latestExpiry, refreshPolicy } from "./policy";
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
  fieldError("create-expires-error", "");
  byId("key-name").removeAttribute("aria-invalid");
  byId("create-expires").removeAttribute("aria-invalid");
  showPolicy(knownPolicy());
  openDialog(dialog, byId("create-open"));
  byId("key-name").focus();
  // Another admin may have changed the policy since it was loaded.
  void refreshPolicy().then((policy) => {
    if (dialog.open) showPolicy(policy);
  });
}

/** What the policy requires, said and applied to the fields. */
function showPolicy(policy: KeyPolicy | null): void {
  const latest = latestExpiry(policy);
  const expires = byId<HTMLInputElement>("create-expires");
  expires.min = dateValue(Date.now());
  if (latest === null) expires.removeAttribute("max");
  else expires.max = dateValue(latest);
  byId("create-expires-hint").textContent =
    latest === null
      ? "The key stops working at the end of that day (your time). Leave empty for a key that never expires."
      : `At most ${days(policy!.maxLifetimeDays!)} from today (${dayLabel(latest)}), as your workspace's key policy requires. Leave empty for the longest allowed.`;
  const required = !!policy?.requireIpAllowlist;
  requireAllowlist("create", required);
  const rules = [
    latest === null ? null : `keys expire within ${days(policy!.maxLifetimeDays!)} (this one by ${dayLabel(latest)} at the latest)`,
    required ? "every key needs an IP allowlist" : null,
  ].filter(Boolean);
  const note = byId("create-policy");
  note.textContent = rules.length ? `Your workspace's key policy: ${rules.join("; ")}. See More options.` : "";
  note.hidden = rules.length === 0;
  if (required) byId<HTMLDetailsElement>("create-more").open = true;
}

/**
 * The expiry the picker asks for (epoch ms; the end of the chosen day, your
 * time, or the latest allowed if that is earlier), undefined when left empty,
 * or null after showing what is wrong.
 */
function readExpiry(): number | undefined | null {
  const input = byId<HTMLInputElement>("create-expires");
  input.removeAttribute("aria-invalid");
  fieldError("create-expires-error", "");
  if (!input.value) return undefined;
  const [y, m, d] = input.value.split("-").map(Number);
  const endOfDay = new Date(y!, m! - 1, d!, 23, 59, 59, 999).getTime();
  const latest = latestExpiry(knownPolicy());
  let message = "";
  if (Number.isNaN(endOfDay) || endOfDay <= Date.now()) message = "Pick a day from today on.";
  else if (latest !== null && dateValue(endOfDay) > dateValue(latest))
    message = `Your workspace's key policy allows at most ${days(knownPolicy()!.maxLifetimeDays!)}: pick ${dayLabel(latest)} or earlier.`;
  if (message) {
    fieldError("create-expires-error", message);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return null;
  }
  return latest === null ? endOfDay : Math.min(endOfDay, latest);
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
  const expiresAt = readExpiry();
  if (expiresAt === null) return revealMore();
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
      ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
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
      if (byField.has("expiresAt")) {
        fieldError("create-expires-error", byField.get("expiresAt")!);
        byId("create-expires").setAttribute("aria-invalid", "true");
        revealMore();
      }
      if (showGuardErrors("create", error.errors)) revealMore();
      // The policy may have changed since the dialog opened: say what it is now.
      if (error.code === "policy_violation") void refreshPolicy().then((policy) => dialog.open && showPolicy(policy));
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
