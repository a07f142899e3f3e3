/**
 * The Webhooks page: the workspace's endpoints (URL, events, enabled or why
 * disabled), adding one (its signing secret shown once, in a dialog of its
 * own, removed from the page when that closes), and the row that opens an
 * endpoint (webhook-dialog.ts).
 *
 * An endpoint's URL is the admin's own input, shown as text, never as a link.
 */
import { ApiError, type CreatedWebhook, type CreateWebhookInput, createWebhook, listWebhooks, type Webhook } from "./api";
import { copyShown } from "./clipboard";
import { openDialog, registerDialog } from "./dialogs";
import { byId, fieldError, h } from "./dom";
import { timeEl } from "./time";

type Select = (endpoint: Webhook, from: HTMLElement) => void;
let select: Select = () => {};
let endpoints: Webhook[] = [];
let seq = 0;
let addDialog: HTMLDialogElement;
let secretDialog: HTMLDialogElement;
let secret: string | null = null;

const ALL_EVENTS = () => [...document.querySelectorAll<HTMLInputElement>("#webhook-add-form input[name=events]")].map((box) => box.value);

export function initWebhooks(onSelect: Select): void {
  select = onSelect;
  addDialog = registerDialog("webhook-add-dialog");
  secretDialog = registerDialog("webhook-secret-dialog");
  byId("webhooks-refresh").addEventListener("click", () => {
    byId("webhooks-notice").textContent = "";
    void loadWebhooks();
  });
  byId("webhook-add-open").addEventListener("click", openAdd);
  byId("webhook-add-cancel").addEventListener("click", () => addDialog.close());
  byId("webhook-add-form").addEventListener("submit", (event) => void submitAdd(event));
  byId("webhook-secret-copy").addEventListener("click", () => {
    if (secret) copyShown(secret, byId("webhook-secret-value"), byId("webhook-secret-copied"));
  });
  // Forgotten as the dialog goes, before its close event (a task later) could let anything read it.
  byId("webhook-secret-done").addEventListener("click", () => {
    forgetSecret();
    secretDialog.close();
  });
  secretDialog.addEventListener("cancel", forgetSecret); // Escape
  secretDialog.addEventListener("close", forgetSecret);
}

/** Why an endpoint gets nothing, in words; null while it is enabled. */
export function disabledExplained(endpoint: Webhook): string | null {
  if (!endpoint.disabledAt) return null;
  switch (endpoint.disabledReason) {
    case "gone":
      return "Disabled: the receiver answered 410 Gone, which says it wants no more events. Enable it again once it is ready.";
    case "failing":
      return "Disabled: every delivery to it failed for 3 days. Fix the receiver (the deliveries below say what it answered), then enable it again.";
    default:
      return "Disabled by an admin: nothing is sent to it. Enable it to receive events again.";
  }
}

/** The status column: "Enabled", or disabled and why, briefly. */
export function statusText(endpoint: Webhook): string {
  if (!endpoint.disabledAt) return "Enabled";
  return { gone: "Disabled · answered 410 Gone", failing: "Disabled · failing for 3 days", admin: "Disabled by an admin" }[
    endpoint.disabledReason ?? "admin"
  ];
}

/** "All events", or the ones it receives. */
export function eventsText(endpoint: Webhook): string {
  return endpoint.events.length === ALL_EVENTS().length ? "All events" : endpoint.events.join(", ");
}

export async function loadWebhooks(): Promise<void> {
  const at = ++seq;
  const table = byId("webhooks-table");
  const state = byId("webhooks-state");
  table.setAttribute("aria-busy", "true");
  state.textContent = "Loading endpoints…";
  try {
    const page = await listWebhooks();
    if (at !== seq) return;
    endpoints = page.data;
    render();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (at !== seq || error.status === 401) return;
    state.textContent = "";
    const retry = h("button", { type: "button", className: "quiet", text: "Try again" });
    retry.addEventListener("click", () => void loadWebhooks());
    state.appendChild(h("p", { className: "error" }, `Couldn't load the endpoints: ${error.message} `, retry));
  }
  if (at === seq) table.removeAttribute("aria-busy");
}

/** Empties the page and drops any answer on its way (sign-out). */
export function clearWebhooks(): void {
  seq++;
  endpoints = [];
  byId<HTMLTableElement>("webhooks-table").tBodies[0]!.textContent = "";
  byId("webhooks-state").textContent = "";
  byId("webhooks-notice").textContent = "";
}

/** Puts a changed endpoint in its row; returns the row's button (to give focus back to). */
export function replaceWebhook(endpoint: Webhook): HTMLElement | null {
  endpoints = endpoints.map((e) => (e.id === endpoint.id ? endpoint : e));
  render();
  return document.querySelector<HTMLElement>(`tr[data-webhook-id="${CSS.escape(endpoint.id)}"] button`);
}

export function dropWebhook(id: string, notice: string): void {
  endpoints = endpoints.filter((e) => e.id !== id);
  render();
  byId("webhooks-notice").textContent = notice;
}

const LABELS = ["Endpoint", "Events", "Status", "Created"];

function render(): void {
  const body = byId<HTMLTableElement>("webhooks-table").tBodies[0]!;
  body.textContent = "";
  byId("webhooks-state").textContent = endpoints.length
    ? ""
    : "No endpoints yet. Add one to be told when a key is revoked, about to expire, or still used after revoke.";
  for (const endpoint of endpoints) {
    const open = h("button", { type: "button", className: "link url", "aria-haspopup": "dialog", text: endpoint.url });
    open.setAttribute("aria-label", `${endpoint.url}: deliveries, test, disable or delete`);
    const cells = [
      h("td", null, open, endpoint.description ? h("p", { className: "hint", text: endpoint.description }) : null),
      h("td", { text: eventsText(endpoint) }),
      h("td", { className: endpoint.disabledAt ? "disabled" : "", text: statusText(endpoint) }),
      h("td", null, timeEl(endpoint.createdAt)),
    ];
    cells.forEach((cell, i) => {
      cell.dataset.label = LABELS[i] ?? "";
    });
    const tr = h("tr", { className: endpoint.disabledAt ? "clickable stopped" : "clickable", "data-webhook-id": endpoint.id }, ...cells);
    tr.addEventListener("click", (event) => {
      if (String(window.getSelection() ?? "") && event.target !== open) return;
      select(endpoint, open);
    });
    body.appendChild(tr);
  }
}

function openAdd(): void {
  byId<HTMLFormElement>("webhook-add-form").reset();
  for (const id of ["webhook-url-error", "webhook-description-error", "webhook-events-error", "webhook-add-error"]) fieldError(id, "");
  byId("webhook-url").removeAttribute("aria-invalid");
  openDialog(addDialog, byId("webhook-add-open"));
  byId("webhook-url").focus();
}

async function submitAdd(event: Event): Promise<void> {
  event.preventDefault();
  const urlInput = byId<HTMLInputElement>("webhook-url");
  const url = urlInput.value.trim();
  const description = byId<HTMLInputElement>("webhook-description").value.trim();
  const events = [...document.querySelectorAll<HTMLInputElement>("#webhook-add-form input[name=events]:checked")].map(
    (box) => box.value,
  ) as NonNullable<CreateWebhookInput["events"]>;
  fieldError("webhook-url-error", url ? "" : "Enter the receiver's URL.");
  fieldError("webhook-events-error", events.length ? "" : "Choose at least one event.");
  fieldError("webhook-add-error", "");
  if (!url) {
    urlInput.setAttribute("aria-invalid", "true");
    urlInput.focus();
    return;
  }
  urlInput.removeAttribute("aria-invalid");
  if (!events.length) return;

  const submit = byId<HTMLButtonElement>("webhook-add-submit");
  submit.disabled = true;
  submit.textContent = "Adding…";
  try {
    // All events is the API's default: sent only when fewer are chosen.
    const created = await createWebhook({
      url,
      ...(events.length === ALL_EVENTS().length ? {} : { events }),
      ...(description ? { description } : {}),
    });
    addDialog.close();
    showSecret(created);
    const { secret: _secret, ...endpoint } = created;
    endpoints = [endpoint, ...endpoints.filter((e) => e.id !== endpoint.id)];
    render();
    void loadWebhooks();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status !== 401) {
      const byField = new Map(error.errors.map((e) => [e.path.split(".")[0], e.message]));
      if (byField.has("url")) {
        fieldError("webhook-url-error", byField.get("url")!);
        urlInput.setAttribute("aria-invalid", "true");
      }
      if (byField.has("description")) fieldError("webhook-description-error", byField.get("description")!);
      if (byField.has("events")) fieldError("webhook-events-error", byField.get("events")!);
      fieldError("webhook-add-error", `The endpoint was not added: ${error.message}`);
    }
  }
  submit.disabled = false;
  submit.textContent = "Add endpoint";
}

function showSecret(created: CreatedWebhook): void {
  secret = created.secret;
  byId("webhook-secret-url").textContent = created.url;
  byId("webhook-secret-value").textContent = secret;
  byId("webhook-secret-copied").textContent = "";
  openDialog(secretDialog, byId("webhook-add-open"));
  byId("webhook-secret-copy").focus();
}

function forgetSecret(): void {
  secret = null;
  byId("webhook-secret-value").textContent = "";
  byId("webhook-secret-url").textContent = "";
  byId("webhook-secret-copied").textContent = "";
}
