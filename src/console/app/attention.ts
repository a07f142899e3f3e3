/**
 * "Needs attention" on the keys page: keys that expire within 14 days,
 * revoked keys still being presented (something still holds them), keys the
 * idle policy is about to revoke. Hidden when there is nothing; a key's name
 * opens it.
 */
import { ApiError, type KeyAttention, type KeyRecord, keyAttention } from "./api";
import { byId, type Child, h, show } from "./dom";
import { timeEl } from "./time";

type Select = (key: KeyRecord, from: HTMLElement) => void;
let select: Select = () => {};
/** Bumped by every load and clear: an older answer is dropped. */
let seq = 0;

export function initAttention(onSelect: Select): void {
  select = onSelect;
  byId("refresh").addEventListener("click", () => void loadAttention());
}

export async function loadAttention(): Promise<void> {
  const at = ++seq;
  const state = byId("attention-state");
  try {
    const found = await keyAttention();
    if (at !== seq) return;
    state.textContent = "";
    render(found);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (at !== seq || error.status === 401) return;
    show(byId("attention"), false);
    state.textContent = "";
    const retry = h("button", { type: "button", className: "quiet", text: "Try again" });
    retry.addEventListener("click", () => void loadAttention());
    state.appendChild(h("p", { className: "error" }, `Couldn't check which keys need attention: ${error.message} `, retry));
  }
}

export function clearAttention(): void {
  seq++;
  byId("attention-list").textContent = "";
  byId("attention-state").textContent = "";
  show(byId("attention"), false);
}

function render(found: KeyAttention): void {
  const items: HTMLElement[] = [
    ...found.usedAfterRevoke.map((key) =>
      item("presented", key, [
        " was revoked but is still being presented: last ",
        timeEl(key.lastPresentedAt),
        key.lastPresentedIp ? " from " : null,
        key.lastPresentedIp ? h("code", { text: key.lastPresentedIp }) : null,
        key.lastPresentedCountry ? ` (${key.lastPresentedCountry})` : null,
        ". Find what still holds it.",
      ]),
    ),
    ...found.idle.map((key) =>
      item("idle", key, [
        " has not been used for long and will be revoked ",
        key.revokeAt ? timeEl(key.revokeAt) : "soon",
        " by the idle policy.",
      ]),
    ),
    ...found.expiring.map((key) => item("expiring", key, [" expires ", timeEl(key.expiresAt), ". Roll it before then."])),
  ];
  const list = byId("attention-list");
  list.textContent = "";
  for (const li of items) list.appendChild(li);
  show(byId("attention"), items.length > 0);
}

const LABELS = { presented: "Still presented", idle: "Idle", expiring: "Expiring" } as const;

function item(kind: keyof typeof LABELS, key: KeyRecord, text: Child[]): HTMLElement {
  const name = h("button", { type: "button", className: "link", "aria-haspopup": "dialog", text: key.name });
  name.addEventListener("click", () => select(key, name));
  return h(
    "li",
    { className: `attention-${kind}`, "data-key-id": key.id },
    h("span", { className: "badge", text: LABELS[kind] }),
    " ",
    name,
    ...text,
  );
}
