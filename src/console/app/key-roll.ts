/**
 * Rolling a key from its dialog: a confirmation with the overlap (how long
 * the old key keeps working next to the new one), then the new key shown
 * once in the same dialog as after create. The new key obeys the workspace's
 * key policy as it is today: the panel says when it will expire, and a key
 * without the IP allowlist the policy requires cannot be rolled (its new key
 * would inherit none), so the panel says to edit it first.
 */
import { ApiError, type KeyPolicy, type KeyRecord, rollKey } from "./api";
import { byId, fieldError, h } from "./dom";
import { closeKeyDialog, shownKey, showPanel } from "./key-dialog";
import { showCreated } from "./key-tables";
import { dayLabel, days, knownPolicy, latestExpiry, refreshPolicy } from "./policy";
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
  showPolicy(key, knownPolicy());
  const choices = overlapChoices();
  const checked = choices.find((c) => c.checked) ?? choices[0]!;
  // Arrow keys move between the choices; Tab goes on to the buttons.
  showPanel("roll", checked.id);
  void refreshPolicy().then((policy) => {
    if (shownKey()?.id === key.id && !byId("roll-confirm").hidden) showPolicy(key, policy);
  });
}

function showPolicy(key: KeyRecord, policy: KeyPolicy | null): void {
  const blocked = !!policy?.requireIpAllowlist && key.ipAllowlist.length === 0;
  const latest = latestExpiry(policy);
  const note = byId("roll-policy");
  note.textContent = blocked
    ? "Your workspace's key policy requires an IP allowlist, and this key has none for its new key to inherit. Edit the key to add one, then roll it."
    : latest === null
      ? ""
      : `Your workspace's key policy: the new key expires on ${dayLabel(latest)}, ${days(policy!.maxLifetimeDays!)} from now.`;
  note.hidden = !note.textContent;
  note.classList.toggle("blocked", blocked);
  byId<HTMLButtonElement>("roll-confirm-button").disabled = blocked;
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
    // The policy may have changed since the panel opened: say what it is now.
    if (error.code === "policy_violation")
      void refreshPolicy().then((policy) => {
        if (shownKey()?.id === key.id) showPolicy(key, policy);
      });
  }
  button.disabled = false;
  button.textContent = "Roll key";
}
