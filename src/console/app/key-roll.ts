/**
 * Rolling a key from its dialog: a confirmation with the overlap (how long
 * the old key keeps working next to the new one), then the new key shown
 * once in the same dialog as after create.
 */
import { ApiError, rollKey } from "./api";
import { byId, fieldError, h } from "./dom";
import { closeKeyDialog, shownKey, showPanel } from "./key-dialog";
import { showCreated } from "./key-tables";
import { showSecret } from "./secret-dialog";

export function initKeyRoll(): void {
  byId("roll-start").addEventListener("click", askRoll);
  byId("roll-cancel").addEventListener("click", () => showPanel("actions", "roll-start"));
  byId("roll-confirm-button").addEventListener("click", () => void confirmRoll());
}

const overlapChoices = () => [...document.querySelectorAll<HTMLInputElement>("#roll-confirm input[name=overlap]")];

function askRoll(): void {
  const key = shownKey();
  if (!key) return;
  const question = byId("roll-question");
  question.textContent = "";
  question.appendChild(h("strong", { text: `Roll “${key.name}”?` }));
  question.appendChild(
    document.createTextNode(
      " A new key with the same name, scopes, IP addresses and rate limit replaces this one; it is shown once. " +
        "Give the old key time to keep working while you put the new one in place.",
    ),
  );
  fieldError("roll-error", "");
  const choices = overlapChoices();
  const checked = choices.find((c) => c.checked) ?? choices[0]!;
  // Arrow keys move between the choices; Tab goes on to the buttons.
  showPanel("roll", checked.id);
}

async function confirmRoll(): Promise<void> {
  const key = shownKey();
  if (!key) return;
  const choice = overlapChoices().find((c) => c.checked);
  const overlapSeconds = Number(choice?.value ?? 0);
  const overlapLabel = choice?.labels?.[0]?.textContent ?? "";
  const button = byId<HTMLButtonElement>("roll-confirm-button");
  button.disabled = true;
  button.textContent = "Rolling…";
  try {
    const created = await rollKey(key.id, { overlapSeconds });
    closeKeyDialog();
    const note = overlapSeconds
      ? `The new key replaces ${key.prefix}…, which keeps working for ${overlapLabel}.`
      : `The new key replaces ${key.prefix}…, which has stopped working.`;
    showSecret(created, note);
    byId("notice").textContent = `Rolled “${key.name}”. ${note}`;
    // As after create, the list keeps the record only; its reload also shows when the old key stops working.
    const { key: _secret, ...record } = created;
    showCreated(record);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status !== 401) fieldError("roll-error", `The key was not rolled: ${error.message}`);
  }
  button.disabled = false;
  button.textContent = "Roll key";
}
