/**
 * The Active keys and Revoked keys tables: loading (with its state line and a
 * retry), paging with "Show more" (following nextCursor), and one row per key.
 * A table's columns are listed in COLUMNS; its header cells are in page.ts.
 */
import { ApiError, type KeyRecord, type KeyStatus, listKeys } from "./api";
import { byId, h, show } from "./dom";
import { fullTime, relative, timeEl } from "./time";

export type ListName = "active" | "revoked";

interface KeyList {
  status: KeyStatus;
  items: KeyRecord[];
  cursor: string | null;
  /** Bumped by every load and clear: an answer for an older one is dropped. */
  seq: number;
}

const lists: Record<ListName, KeyList> = {
  active: { status: "active", items: [], cursor: null, seq: 0 },
  revoked: { status: "revoked", items: [], cursor: null, seq: 0 },
};

const EMPTY: Record<ListName, string> = {
  active: "No active keys yet. Create one for each integration that needs access.",
  revoked: "No revoked keys.",
};

type Select = (key: KeyRecord, from: HTMLElement) => void;
let select: Select = () => {};

/** Wires the tables' buttons; `onSelect` opens a key (a click on its row, or its name button). */
export function initKeyTables(onSelect: Select): void {
  select = onSelect;
  byId("refresh").addEventListener("click", () => {
    byId("notice").textContent = "";
    loadAll();
  });
  byId("active-more").addEventListener("click", () => void load("active", true));
  byId("revoked-more").addEventListener("click", () => void load("revoked", true));
}

export function loadAll(): void {
  void load("active", false);
  void load("revoked", false);
}

/** Empties both tables and drops any answer still on its way (sign-out). */
export function clearLists(): void {
  for (const name of ["active", "revoked"] as const) {
    const list = lists[name];
    list.items = [];
    list.cursor = null;
    list.seq++;
    byId<HTMLTableElement>(`${name}-table`).tBodies[0]!.textContent = "";
    byId(`${name}-state`).textContent = "";
    show(byId(`${name}-more`), false);
  }
}

/** Shows a key just created at the top of Active keys at once, then reloads the table. */
export function showCreated(record: KeyRecord): void {
  lists.active.items = [record, ...lists.active.items.filter((k) => k.id !== record.id)];
  render("active");
  void load("active", false);
}

/** Takes a key out of Active keys at once (it was revoked); the caller reloads. */
export function dropActive(id: string): void {
  lists.active.items = lists.active.items.filter((k) => k.id !== id);
  render("active");
}

export async function load(name: ListName, more: boolean): Promise<void> {
  const list = lists[name];
  const seq = ++list.seq;
  const table = byId(`${name}-table`);
  const state = byId(`${name}-state`);
  const moreButton = byId<HTMLButtonElement>(`${name}-more`);
  table.setAttribute("aria-busy", "true");
  moreButton.disabled = true;
  if (!more) state.textContent = `Loading ${name} keys…`;
  try {
    const page = await listKeys(list.status, more ? list.cursor : null);
    if (seq !== list.seq) return;
    list.items = more ? list.items.concat(page.data) : page.data;
    list.cursor = page.nextCursor;
    render(name);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (seq !== list.seq || error.status === 401) return; // a 401 has signed out already
    state.textContent = "";
    const retry = h("button", { type: "button", className: "quiet", text: "Try again" });
    retry.addEventListener("click", () => void load(name, more));
    state.appendChild(h("p", { className: "error" }, `Couldn't load ${name} keys: ${error.message} `, retry));
  }
  if (seq !== list.seq) return;
  table.removeAttribute("aria-busy");
  moreButton.disabled = false;
}

function render(name: ListName): void {
  const list = lists[name];
  const body = byId<HTMLTableElement>(`${name}-table`).tBodies[0]!;
  body.textContent = "";
  for (const key of list.items) body.appendChild(row(name, key));
  byId(`${name}-state`).textContent = list.items.length ? "" : EMPTY[name];
  show(byId(`${name}-more`), !!list.cursor);
}

/** A table cell of one key; `name` is the row's button that opens the key. */
type Column = (key: KeyRecord, name: HTMLButtonElement) => HTMLTableCellElement;

const nameCell: Column = (key, name) => h("td", null, name, expiryBadge(key));
const prefixCell: Column = (key) => h("td", null, h("code", { text: `${key.prefix}…` }));
const scopesCell: Column = (key) => h("td", null, ...key.scopes.map((s) => h("span", { className: "scope-tag", text: s })));
const lastUsedCell: Column = (key) => h("td", null, timeEl(key.lastUsedAt));
const createdCell: Column = (key) => h("td", null, timeEl(key.createdAt));
const revokedCell: Column = (key) => h("td", null, timeEl(key.revokedAt));

const COLUMNS: Record<ListName, Column[]> = {
  active: [nameCell, prefixCell, scopesCell, lastUsedCell, createdCell],
  revoked: [nameCell, prefixCell, scopesCell, lastUsedCell, createdCell, revokedCell],
};

function row(name: ListName, key: KeyRecord): HTMLTableRowElement {
  const nameButton = h("button", {
    type: "button",
    className: "link",
    "aria-haspopup": "dialog",
    "aria-label": key.name + (name === "active" ? ": details and revoke" : ": details"),
    text: key.name,
  });
  const tr = h("tr", { className: "clickable", "data-key-id": key.id }, ...COLUMNS[name].map((column) => column(key, nameButton)));
  tr.addEventListener("click", (event) => {
    // Selecting text in a row (to copy a prefix, say) is not a click on it.
    if (String(window.getSelection() ?? "") && event.target !== nameButton) return;
    select(key, nameButton);
  });
  return tr;
}

function expiryBadge(key: KeyRecord): HTMLElement | null {
  if (!key.expiresAt || key.revokedAt) return null;
  const past = Date.parse(key.expiresAt) <= Date.now();
  return h(
    "span",
    { className: past ? "badge expired" : "badge", title: `Expires ${fullTime(key.expiresAt)}` },
    past ? "Expired" : `Expires ${relative(key.expiresAt)}`,
  );
}
