/**
 * An endpoint's dialog: where it sends, what, whether it is enabled (and why
 * not), its deliveries with their status and a Retry for each, and what can
 * be done with it: send a test event, disable or enable it, delete it.
 * While a delivery shown is pending, the list refreshes by itself for a
 * while, so a test event's outcome appears without a reload.
 */
import { ApiError, type Delivery, deleteWebhook, listDeliveries, retryDelivery, testWebhook, updateWebhook, type Webhook } from "./api";
import { openDialog, registerDialog, returnFocusTo } from "./dialogs";
import { byId, type Child, fieldError, h, show } from "./dom";
import { timeEl } from "./time";
import { disabledExplained, dropWebhook, eventsText, replaceWebhook, statusText } from "./webhooks";

let dialog: HTMLDialogElement;
let current: Webhook | null = null;
let deliveries: Delivery[] = [];
let cursor: string | null = null;
/** Bumped by every open and close: an answer about an endpoint no longer shown is dropped. */
let seq = 0;
let poll: ReturnType<typeof setTimeout> | undefined;
/** Refreshes left before the list stops refreshing itself. */
let pollsLeft = 0;
const POLL_MS = 2_000;
const POLLS = 15;

export function initWebhookDialog(): void {
  dialog = registerDialog("webhook-dialog");
  byId("webhook-close").addEventListener("click", () => dialog.close());
  byId("webhook-test").addEventListener("click", () => void sendTest());
  byId("webhook-toggle").addEventListener("click", () => void toggle());
  byId("webhook-delete-start").addEventListener("click", () => panel("delete"));
  byId("webhook-delete-cancel").addEventListener("click", () => panel("actions"));
  byId("webhook-delete-confirm-button").addEventListener("click", () => void remove());
  byId("deliveries-more").addEventListener("click", () => void load(true));
  dialog.addEventListener("close", () => {
    current = null;
    seq++;
    clearTimeout(poll);
  });
}

export function openWebhookDialog(endpoint: Webhook, from: HTMLElement): void {
  showEndpoint(endpoint);
  panel("actions", false);
  fieldError("webhook-error", "");
  deliveries = [];
  cursor = null;
  pollsLeft = POLLS;
  byId<HTMLTableElement>("deliveries-table").tBodies[0]!.textContent = "";
  openDialog(dialog, from);
  byId("webhook-close").focus();
  seq++;
  void load(false);
}

function panel(name: "actions" | "delete", focus = true): void {
  show(byId("webhook-actions"), name === "actions");
  show(byId("webhook-delete-confirm"), name === "delete");
  if (focus) byId(name === "actions" ? "webhook-delete-start" : "webhook-delete-cancel").focus();
}

function detail(list: HTMLElement, term: string, ...value: Child[]): void {
  list.appendChild(h("dt", { text: term }));
  list.appendChild(h("dd", null, ...value));
}

function showEndpoint(endpoint: Webhook): void {
  current = endpoint;
  byId("webhook-title").textContent = endpoint.url;
  const why = disabledExplained(endpoint);
  byId("webhook-disabled").textContent = why ?? "";
  show(byId("webhook-disabled"), !!why);
  const dl = byId("webhook-details");
  dl.textContent = "";
  if (endpoint.description) detail(dl, "Description", endpoint.description);
  detail(dl, "Events", eventsText(endpoint));
  detail(dl, "Status", statusText(endpoint), endpoint.disabledAt ? " " : null, endpoint.disabledAt ? timeEl(endpoint.disabledAt) : null);
  detail(dl, "Created", timeEl(endpoint.createdAt));
  detail(dl, "Id", h("code", { text: endpoint.id }));
  byId("webhook-toggle").textContent = endpoint.disabledAt ? "Enable" : "Disable";
  byId<HTMLButtonElement>("webhook-test").disabled = !!endpoint.disabledAt;
  renderDeliveries();
}

async function load(more: boolean): Promise<void> {
  const endpoint = current;
  if (!endpoint) return;
  const at = seq;
  const state = byId("deliveries-state");
  if (!more) state.textContent = deliveries.length ? "" : "Loading deliveries…";
  try {
    const page = await listDeliveries(endpoint.id, more ? cursor : null);
    if (at !== seq) return;
    deliveries = more ? deliveries.concat(page.data) : page.data;
    cursor = page.nextCursor;
    state.textContent = deliveries.length ? "" : "No deliveries yet. Send a test event to try the receiver.";
    renderDeliveries();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (at !== seq || error.status === 401) return;
    state.textContent = `Couldn't load the deliveries: ${error.message}`;
  }
  if (at === seq) keepFresh();
}

/** While a delivery shown is pending, the first page is loaded again every few seconds, for a while. */
function keepFresh(): void {
  clearTimeout(poll);
  if (!deliveries.some((d) => d.status === "pending") || pollsLeft <= 0) return;
  pollsLeft--;
  poll = setTimeout(() => void load(false), POLL_MS);
}

const LABELS = ["Event", "Created", "Status", "Attempts", "Last answer", "Action"];

function statusCell(d: Delivery): Child[] {
  if (d.status === "delivered") return ["Delivered"];
  if (d.status === "failed") return ["Failed"];
  return d.nextAttemptAt && Date.parse(d.nextAttemptAt) > Date.now() + 5_000
    ? ["Pending · next attempt ", timeEl(d.nextAttemptAt)]
    : ["Pending"];
}

function lastAnswer(d: Delivery): string {
  if (d.lastResponseStatus !== null) return `HTTP ${d.lastResponseStatus}`;
  const why = {
    timeout: "No answer within 10 s",
    network: "Could not connect",
    url_not_allowed: "URL not allowed",
    endpoint_disabled: "Not sent: endpoint disabled",
    dead_lettered: "Given up",
  }[d.lastError ?? ""];
  return why ?? (d.attempts ? "–" : "Not tried yet");
}

function renderDeliveries(): void {
  const body = byId<HTMLTableElement>("deliveries-table").tBodies[0]!;
  body.textContent = "";
  for (const d of deliveries) {
    const retry = h("button", { type: "button", className: "quiet", text: d.status === "delivered" ? "Send again" : "Retry" });
    retry.setAttribute(
      "aria-label",
      `${d.status === "delivered" ? "Send again" : "Retry"} ${d.event} of ${new Date(d.createdAt).toLocaleString()}`,
    );
    retry.disabled = !!current?.disabledAt;
    retry.addEventListener("click", () => void retryOne(d, retry));
    const cells = [
      h("td", null, h("code", { text: d.event }), h("p", { className: "hint", text: d.id })),
      h("td", null, timeEl(d.createdAt)),
      h("td", { className: `delivery-${d.status}` }, ...statusCell(d)),
      h("td", { className: "num", text: String(d.attempts) }),
      h("td", { text: lastAnswer(d) }),
      h("td", null, retry),
    ];
    cells.forEach((cell, i) => {
      cell.dataset.label = LABELS[i] ?? "";
    });
    body.appendChild(h("tr", { "data-delivery-id": d.id, className: d.status === "failed" ? "failed" : "" }, ...cells));
  }
  show(byId("deliveries-more"), cursor !== null);
}

function failed(action: string, error: unknown): void {
  if (!(error instanceof ApiError)) throw error;
  if (error.status !== 401) fieldError("webhook-error", `${action}: ${error.message}`);
}

async function sendTest(): Promise<void> {
  const endpoint = current;
  if (!endpoint) return;
  const button = byId<HTMLButtonElement>("webhook-test");
  button.disabled = true;
  fieldError("webhook-error", "");
  try {
    const delivery = await testWebhook(endpoint.id);
    if (current?.id !== endpoint.id) return;
    deliveries = [delivery, ...deliveries];
    renderDeliveries();
    byId("deliveries-state").textContent = "Test event sent.";
    pollsLeft = POLLS;
    keepFresh();
  } catch (error) {
    failed("The test event was not sent", error);
  }
  button.disabled = !!current?.disabledAt;
}

async function retryOne(delivery: Delivery, button: HTMLButtonElement): Promise<void> {
  const endpoint = current;
  if (!endpoint) return;
  button.disabled = true;
  fieldError("webhook-error", "");
  try {
    const again = await retryDelivery(endpoint.id, delivery.id);
    if (current?.id !== endpoint.id) return;
    deliveries = deliveries.map((d) => (d.id === again.id ? again : d));
    renderDeliveries();
    pollsLeft = POLLS;
    keepFresh();
    document.querySelector<HTMLElement>(`tr[data-delivery-id="${CSS.escape(again.id)}"] button`)?.focus();
  } catch (error) {
    button.disabled = false;
    failed("The delivery was not sent again", error);
  }
}

async function toggle(): Promise<void> {
  const endpoint = current;
  if (!endpoint) return;
  const button = byId<HTMLButtonElement>("webhook-toggle");
  button.disabled = true;
  fieldError("webhook-error", "");
  try {
    const changed = await updateWebhook(endpoint.id, { enabled: !!endpoint.disabledAt });
    if (current?.id !== endpoint.id) return;
    showEndpoint(changed);
    returnFocusTo(replaceWebhook(changed));
    // Disabling fails what was pending: show it.
    void load(false);
  } catch (error) {
    failed(endpoint.disabledAt ? "The endpoint was not enabled" : "The endpoint was not disabled", error);
  }
  button.disabled = false;
  button.focus();
}

async function remove(): Promise<void> {
  const endpoint = current;
  if (!endpoint) return;
  const button = byId<HTMLButtonElement>("webhook-delete-confirm-button");
  button.disabled = true;
  try {
    await deleteWebhook(endpoint.id);
    returnFocusTo(null);
    dialog.close();
    dropWebhook(endpoint.id, `Deleted the endpoint ${endpoint.url}.`);
  } catch (error) {
    failed("The endpoint was not deleted", error);
  }
  button.disabled = false;
}
