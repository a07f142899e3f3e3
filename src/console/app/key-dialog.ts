/**
 * A key's details dialog: what the key is and may do, its guard rails, its
 * last use, 30 days of requests, its recent requests (request-log.ts), and
 * what can be done with it. One panel
 * at a time under the details: the actions, or the edit form (key-edit.ts),
 * the roll confirmation (key-roll.ts) or the revoke confirmation (here).
 */
import { ApiError, getKey, type KeyRecord, keyUsage, revokeKey, USAGE_DAYS } from "./api";
import { openDialog, registerDialog, returnFocusTo } from "./dialogs";
import { byId, type Child, fieldError, h, show } from "./dom";
import { rateLong } from "./guard-fields";
import { dropActive, loadAll } from "./key-tables";
import { closeRequestLog, showRequestLog } from "./request-log";
import { revocationReason } from "./revocation";
import { timeEl } from "./time";
import { usageChart, usageSummary } from "./usage-chart";

let dialog: HTMLDialogElement;
let openKey: KeyRecord | null = null;
/** Bumped by every open and close: an answer about a key no longer shown is dropped. */
let seq = 0;

export type Panel = "actions" | "edit" | "roll" | "revoke";
const PANELS: Record<Panel, string> = { actions: "key-actions", edit: "edit-form", roll: "roll-confirm", revoke: "revoke-confirm" };

export function initKeyDialog(): void {
  dialog = registerDialog("key-dialog");
  byId("key-close").addEventListener("click", () => dialog.close());
  byId("revoke-start").addEventListener("click", askRevoke);
  byId("revoke-cancel").addEventListener("click", () => showPanel("actions", "revoke-start"));
  byId("revoke-confirm-button").addEventListener("click", () => void confirmRevoke());
  dialog.addEventListener("close", () => {
    openKey = null;
    seq++;
    closeRequestLog();
  });
}

/** The key the dialog shows, if it is open. */
export function shownKey(): KeyRecord | null {
  return openKey;
}

export function closeKeyDialog(): void {
  dialog.close();
}

/** Shows one panel under the details (the others hidden) and focuses `focus`. */
export function showPanel(panel: Panel, focus: string): void {
  for (const [name, id] of Object.entries(PANELS)) show(byId(id), name === panel);
  byId(focus).focus();
}

/** One term and its value in the details list. */
function detail(list: HTMLElement, term: string, ...value: Child[]): void {
  list.appendChild(h("dt", { text: term }));
  list.appendChild(h("dd", null, ...value));
}

/** "3 minutes ago from 203.0.113.7 (DE)", leaving out what is not known. */
function lastUse(key: KeyRecord): Child[] {
  if (!key.lastUsedAt) return [timeEl(null)];
  return [
    timeEl(key.lastUsedAt),
    key.lastUsedIp ? " from " : null,
    key.lastUsedIp ? h("code", { text: key.lastUsedIp }) : null,
    key.lastUsedCountry ? ` (${key.lastUsedCountry})` : null,
  ];
}

/** Shows `key` in the open dialog: after opening, and when its record changed. */
export function showKey(key: KeyRecord): void {
  openKey = key;
  byId("key-title").textContent = key.name;
  const dl = byId("key-details");
  dl.textContent = "";
  detail(dl, "Prefix", h("code", { text: `${key.prefix}…` }));
  detail(dl, "Scopes", key.scopes.join(", "));
  detail(
    dl,
    "IP addresses",
    key.ipAllowlist.length ? h("span", { className: "cidrs" }, ...key.ipAllowlist.map((cidr) => h("code", { text: cidr }))) : "Any",
  );
  detail(dl, "Rate limit", key.rateLimit ? rateLong(key.rateLimit) : "None");
  detail(dl, "Last used", ...lastUse(key));
  detail(dl, "Created", timeEl(key.createdAt), ` by ${key.createdBy}`);
  if (key.rolledFrom) detail(dl, "Replaces", h("code", { text: key.rolledFrom }), " (rolled)");
  if (key.rolledTo && !key.revokedAt && key.expiresAt) {
    const past = Date.parse(key.expiresAt) <= Date.now();
    detail(
      dl,
      "Rolled",
      `Replaced by `,
      h("code", { text: key.rolledTo }),
      past ? "; stopped working " : "; stops working ",
      timeEl(key.expiresAt),
    );
  } else {
    const expired = !!key.expiresAt && Date.parse(key.expiresAt) <= Date.now();
    detail(dl, expired ? "Expired" : "Expires", timeEl(key.expiresAt, "Never"));
  }
  if (key.revokedAt) {
    detail(dl, "Revoked", timeEl(key.revokedAt), key.revokedBy ? ` by ${key.revokedBy}` : "");
    detail(dl, "Reason", revocationReason(key));
    if (key.usedAfterRevokeAt) detail(dl, "Still presented", "Last ", timeEl(key.usedAfterRevokeAt), " (refused)");
  }
  // What the API would refuse is not offered: a revoked key changes no more, a rolled one rolls once.
  show(byId("edit-start"), !key.revokedAt);
  show(byId("roll-start"), !key.revokedAt && !key.rolledTo);
  show(byId("revoke-start"), !key.revokedAt);
}

export function openKeyDialog(key: KeyRecord, from: HTMLElement): void {
  showKey(key);
  for (const id of Object.values(PANELS)) show(byId(id), id === "key-actions");
  fieldError("revoke-error", "");
  openDialog(dialog, from);
  byId(key.revokedAt ? "key-close" : "revoke-start").focus();
  void loadDetails(key.id, ++seq);
  showRequestLog(key.id);
}

/** The key's requests per day, and its record as it is now (the table's copy may predate its latest use). The request log loads apart (request-log.ts). */
async function loadDetails(id: string, at: number): Promise<void> {
  const chart = byId("usage-chart");
  const summary = byId("usage-summary");
  chart.textContent = "";
  summary.textContent = "Loading usage…";
  summary.classList.remove("error");
  const [usage, fresh] = await Promise.allSettled([keyUsage(id), getKey(id)]);
  if (at !== seq) return;
  if (fresh.status === "fulfilled") showKey(fresh.value);
  if (usage.status === "fulfilled") {
    chart.appendChild(usageChart(usage.value.data));
    summary.textContent = usageSummary(usage.value.data, USAGE_DAYS);
  } else {
    const error = usage.reason;
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) return; // signed out already
    summary.textContent = `Couldn't load usage: ${error.message}`;
    summary.classList.add("error");
  }
}

function askRevoke(): void {
  if (!openKey) return;
  const question = byId("revoke-question");
  question.textContent = "";
  question.appendChild(h("strong", { text: `Revoke “${openKey.name}”?` }));
  question.appendChild(
    document.createTextNode(
      " Anything using this key stops working within 5 seconds, everywhere (within about 2 minutes if our storage is failing). Revocation is final: the key can't be reactivated.",
    ),
  );
  fieldError("revoke-error", "");
  // While it asks, the only ways on are the two answers.
  showPanel("revoke", "revoke-cancel");
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
