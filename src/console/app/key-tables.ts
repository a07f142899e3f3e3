/**
 * The Active keys and Revoked keys tables: loading (with its state line and a
 * retry), paging with "Show more" (following nextCursor), and one row per key.
 * A table's columns are listed in COLUMNS; its header cells are in page.ts,
 * and each cell carries its header's text (data-label) for the stacked layout
 * of narrow screens.
 *
 * Active keys also show each key's requests over the last 30 days (one call
 * for the whole workspace), so that idle keys stand out. They are sorted by
 * Created (as listed: newest first) or by those requests, either way round;
 * the header sorted by has aria-sort. Keys that stopped working (rolled and
 * past their overlap, or expired) come after the working ones, in a group of
 * their own, whatever the sort; a key moves there when its time comes.
 */
import { ApiError, type KeyRecord, type KeyStatus, listKeys, workspaceUsage } from "./api";
import { byId, h, show } from "./dom";
import { rateShort } from "./guard-fields";
import { forgetLeakUrls, revocationReason } from "./revocation";
import { timeEl } from "./time";

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

/** Requests per key id over the last 30 days, once loaded (keys not in it made none); null until then or when it failed. */
let usage: Map<string, number> | null = null;
/** Why the totals are missing, when loading them failed. */
let usageError: string | null = null;
let usageSeq = 0;
/** The Active keys columns one can sort by: the header buttons' data-sort. */
type SortColumn = "created" | "usage";
type Direction = "ascending" | "descending";
interface Sort {
  column: SortColumn;
  direction: Direction;
}
/** How Active keys come: as listed, newest first. */
const AS_LISTED: Sort = { column: "created", direction: "descending" };
/** A column's first direction: newest first; least used first (idle keys on top). */
const FIRST: Record<SortColumn, Direction> = { created: "descending", usage: "ascending" };
let sort: Sort = AS_LISTED;

/** The next time a listed key stops working, to move it down then. */
let stopTimer: ReturnType<typeof setTimeout> | undefined;
/** setTimeout's longest delay (about 24.8 days); a later stop is timed again then. */
const MAX_DELAY = 2 ** 31 - 1;

/** Wires the tables' buttons; `onSelect` opens a key (a click on its row, or its name button). */
export function initKeyTables(onSelect: Select): void {
  select = onSelect;
  byId("refresh").addEventListener("click", () => {
    byId("notice").textContent = "";
    loadAll();
  });
  byId("active-more").addEventListener("click", () => void load("active", true));
  byId("revoked-more").addEventListener("click", () => void load("revoked", true));
  for (const button of byId("active-table").querySelectorAll<HTMLButtonElement>("button.sort")) {
    button.addEventListener("click", () => {
      const column = button.dataset.sort as SortColumn;
      const direction = sort.column !== column ? FIRST[column] : sort.direction === "ascending" ? "descending" : "ascending";
      sort = { column, direction };
      markSort();
      render("active");
      button.focus();
    });
  }
}

/** aria-sort on the header sorted by, and on no other (app.css draws its arrow from it). */
function markSort(): void {
  for (const button of byId("active-table").querySelectorAll<HTMLButtonElement>("button.sort")) {
    const th = button.closest("th")!;
    if (button.dataset.sort === sort.column) th.setAttribute("aria-sort", sort.direction);
    else th.removeAttribute("aria-sort");
  }
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
    for (const body of byId<HTMLTableElement>(`${name}-table`).tBodies) body.textContent = "";
    byId(`${name}-state`).textContent = "";
    show(byId(`${name}-more`), false);
  }
  usage = null;
  usageError = null;
  usageSeq++;
  sort = AS_LISTED;
  markSort();
  clearTimeout(stopTimer);
  forgetLeakUrls();
}

/** Shows a key just created at the top of Active keys at once, then reloads the table. */
export function showCreated(record: KeyRecord): void {
  lists.active.items = [record, ...lists.active.items.filter((k) => k.id !== record.id)];
  render("active");
  void load("active", false);
}

/** Puts a changed key's record in its row at once; returns the row's new name button (to give focus back to). */
export function replaceKey(record: KeyRecord): HTMLElement | null {
  for (const name of ["active", "revoked"] as const) {
    const list = lists[name];
    if (!list.items.some((k) => k.id === record.id)) continue;
    list.items = list.items.map((k) => (k.id === record.id ? record : k));
    render(name);
  }
  return document.querySelector<HTMLElement>(`tr[data-key-id="${CSS.escape(record.id)}"] td:first-child button`);
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
  if (name === "active" && !more) void loadUsage();
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

/** The 30-day totals of every key; shown in place when they arrive. */
async function loadUsage(): Promise<void> {
  const seq = ++usageSeq;
  try {
    const answer = await workspaceUsage();
    if (seq !== usageSeq) return;
    usage = new Map(answer.data.map((k) => [k.keyId, k.requests]));
    usageError = null;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (seq !== usageSeq) return;
    // The column says it is unknown (and why, on hover); the list itself still works.
    usage = null;
    usageError = error.message;
  }
  if (sort.column === "usage") render("active");
  else for (const cell of document.querySelectorAll<HTMLTableCellElement>("#active-table td.usage")) fillUsage(cell);
}

const requestsOf = (key: KeyRecord) => usage?.get(key.id) ?? 0;
const createdOf = (key: KeyRecord) => Date.parse(key.createdAt);

function sorted(items: KeyRecord[]): KeyRecord[] {
  // By use once the totals are in; until then as listed.
  if (sort.column === "usage" && !usage) return items;
  const value = sort.column === "usage" ? requestsOf : createdOf;
  const sign = sort.direction === "ascending" ? 1 : -1;
  // Stable: keys with the same value keep the list's order (newest first).
  return [...items].sort((a, b) => sign * (value(a) - value(b)));
}

/** When a key stopped working (rolled and past its overlap, or expired), or null while it works (or was revoked: that table says so). */
function stoppedAt(key: KeyRecord, now: number): number | null {
  if (key.revokedAt || !key.expiresAt) return null;
  const at = Date.parse(key.expiresAt);
  return at <= now ? at : null;
}

function render(name: ListName): void {
  const list = lists[name];
  const table = byId<HTMLTableElement>(`${name}-table`);
  // A row that had focus gets it back in its new copy.
  const focused = document.activeElement?.closest<HTMLElement>("tr[data-key-id]")?.dataset.keyId;
  const [body, stoppedBody] = [...table.tBodies];
  body!.textContent = "";
  const now = Date.now();
  if (name === "active") {
    // The working keys in the first body, those that stopped in the second, each sorted.
    const keys = sorted(list.items);
    const stopped = keys.filter((key) => stoppedAt(key, now) !== null);
    for (const key of keys) if (!stopped.includes(key)) body!.appendChild(row(name, key, now));
    stoppedBody!.textContent = "";
    if (stopped.length) stoppedBody!.appendChild(stoppedHeading(stopped.length));
    for (const key of stopped) stoppedBody!.appendChild(row(name, key, now));
    timeNextStop(list.items, now);
  } else {
    for (const key of list.items) body!.appendChild(row(name, key, now));
  }
  if (focused) table.querySelector<HTMLElement>(`tr[data-key-id="${CSS.escape(focused)}"] td:first-child button`)?.focus();
  byId(`${name}-state`).textContent = list.items.length ? "" : EMPTY[name];
  show(byId(`${name}-more`), !!list.cursor);
}

/** The row that heads the keys that stopped working. */
function stoppedHeading(count: number): HTMLTableRowElement {
  return h(
    "tr",
    { className: "group" },
    h(
      "th",
      { scope: "rowgroup", colspan: String(COLUMNS.active.length) },
      `Stopped working (${count})`,
      h("span", { className: "group-hint", text: " · rolled keys past their overlap, and expired keys: calls with them are refused" }),
    ),
  );
}

/** Renders Active keys again when the next listed key stops working, to move it down. */
function timeNextStop(items: KeyRecord[], now: number): void {
  clearTimeout(stopTimer);
  const upcoming = items.filter((key) => !key.revokedAt && key.expiresAt).map((key) => Date.parse(key.expiresAt!) - now);
  const next = Math.min(...upcoming.filter((delay) => delay > 0));
  if (next !== Number.POSITIVE_INFINITY) stopTimer = setTimeout(() => render("active"), Math.min(next, MAX_DELAY));
}

/** A table cell of one key; `name` is the row's button that opens the key, `now` the time the table is drawn for. */
type Column = (key: KeyRecord, name: HTMLButtonElement, now: number) => HTMLTableCellElement;

const nameCell: Column = (key, name, now) => h("td", null, name, ...badges(key, now));
const prefixCell: Column = (key) => h("td", null, h("code", { text: `${key.prefix}…` }));
const scopesCell: Column = (key) => h("td", null, ...key.scopes.map((s) => h("span", { className: "scope-tag", text: s })));
const lastUsedCell: Column = (key) => h("td", null, timeEl(key.lastUsedAt));
const createdCell: Column = (key) => h("td", null, timeEl(key.createdAt));
const revokedCell: Column = (key) => h("td", null, timeEl(key.revokedAt));
const reasonCell: Column = (key) => h("td", { className: "reason" }, revocationReason(key));
const usageCell: Column = (key) => fillUsage(h("td", { className: "num usage", "data-key-id": key.id }));

const COLUMNS: Record<ListName, Column[]> = {
  active: [nameCell, prefixCell, scopesCell, lastUsedCell, createdCell, usageCell],
  revoked: [nameCell, prefixCell, scopesCell, lastUsedCell, createdCell, revokedCell, reasonCell],
};

function fillUsage(cell: HTMLTableCellElement): HTMLTableCellElement {
  const id = cell.dataset.keyId ?? "";
  if (!usage) {
    cell.textContent = "–";
    cell.title = usageError ? `Couldn't load the 30-day totals: ${usageError}` : "Loading…";
    return cell;
  }
  const requests = usage.get(id) ?? 0;
  cell.textContent = requests.toLocaleString("en-US");
  cell.title = requests ? `${requests.toLocaleString("en-US")} requests in the last 30 days` : "Not used in the last 30 days";
  cell.classList.toggle("idle", requests === 0);
  return cell;
}

/** Each table's header texts, in column order: what a cell is, when the table is stacked. */
const labels = new Map<ListName, string[]>();
function headerLabels(name: ListName): string[] {
  let texts = labels.get(name);
  if (!texts) {
    const header = byId<HTMLTableElement>(`${name}-table`).tHead!.rows[0]!;
    texts = [...header.cells].map((th) => th.textContent?.trim() ?? "");
    labels.set(name, texts);
  }
  return texts;
}

function row(name: ListName, key: KeyRecord, now: number): HTMLTableRowElement {
  const nameButton = h("button", {
    type: "button",
    className: "link",
    "aria-haspopup": "dialog",
    "aria-label": key.name + (name === "active" ? ": details, edit, roll and revoke" : ": details"),
    text: key.name,
  });
  const heads = headerLabels(name);
  const cells = COLUMNS[name].map((column, i) => {
    const cell = column(key, nameButton, now);
    cell.dataset.label = heads[i] ?? "";
    return cell;
  });
  const stopped = stoppedAt(key, now) !== null;
  const tr = h("tr", { className: stopped ? "clickable stopped" : "clickable", "data-key-id": key.id }, ...cells);
  tr.addEventListener("click", (event) => {
    // Selecting text in a row (to copy a prefix, say) is not a click on it, nor is one on a leak's URL (there to be copied).
    if (String(window.getSelection() ?? "") && event.target !== nameButton) return;
    if (event.target instanceof Element && event.target.closest(".url")) return;
    select(key, nameButton);
  });
  return tr;
}

/** Small labels after a key's name: when it stops or stopped working (rolled or expiring), its guard rails, a revoked key still presented. */
function badges(key: KeyRecord, now: number): (HTMLElement | null)[] {
  return [stopBadge(key, now), ...guardBadges(key), presentedBadge(key, now)];
}

/** How far back a revoked key's latest presentation counts as "still": the request log's retention, where its calls can be seen. */
const STILL_PRESENTED_MS = 30 * 86_400_000;

/** A revoked key that something still presents (and is refused): worth finding what holds it. */
function presentedBadge(key: KeyRecord, now: number): HTMLElement | null {
  if (!key.revokedAt || !key.usedAfterRevokeAt || now - Date.parse(key.usedAfterRevokeAt) > STILL_PRESENTED_MS) return null;
  return h(
    "span",
    {
      className: "badge stopped presented",
      title: "Something still presents this revoked key; its calls are refused. Open the key to see them in its recent requests.",
    },
    "Still presented · ",
    timeEl(key.usedAfterRevokeAt),
  );
}

function stopBadge(key: KeyRecord, now: number): HTMLElement | null {
  if (!key.expiresAt || key.revokedAt) return null;
  // The time reads relative and keeps up; the full time is on hover.
  const when = timeEl(key.expiresAt);
  if (stoppedAt(key, now) !== null) {
    return h("span", { className: "badge stopped" }, key.rolledTo ? "Stopped · rolled, overlap ended " : "Stopped · expired ", when);
  }
  // Rolled: it works next to its successor until the overlap ends.
  return h("span", { className: "badge" }, key.rolledTo ? "Rolled · stops working " : "Expires ", when);
}

function guardBadges(key: KeyRecord): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (key.revokedAt) return out;
  if (key.ipAllowlist.length) {
    out.push(h("span", { className: "badge guard", title: `Usable only from ${key.ipAllowlist.join(", ")}`, text: "IP-restricted" }));
  }
  if (key.rateLimit) {
    out.push(
      h("span", {
        className: "badge guard",
        title: `Rate limit: at most ${key.rateLimit.limit} requests per ${key.rateLimit.periodSeconds} s`,
        text: rateShort(key.rateLimit),
      }),
    );
  }
  return out;
}
