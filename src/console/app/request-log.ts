/**
 * The key dialog's recent requests: the key's request log, newest first,
 * a page at a time (Show more follows nextCursor), filtered by outcome. A
 * refused call says so in words ("Refused: key revoked"), its row marked too.
 */
import { ApiError, keyRequests, type LoggedRequest, type Outcome } from "./api";
import { byId, h, show } from "./dom";
import { timeEl } from "./time";

/** Each outcome in words, in the filter's order. */
export const OUTCOME_LABELS: Record<Outcome, string> = {
  ok: "Served",
  insufficient_scope: "Refused: missing scope",
  ip_not_allowed: "Refused: IP address not allowed",
  rate_limited: "Refused: over the rate limit",
  revoked: "Refused: key revoked",
  expired: "Refused: key expired",
};

let shownKey: string | null = null;
let cursor: string | null = null;
/** Bumped by every load and close: an answer for an older one is dropped. */
let seq = 0;

// (A <select>; HTMLSelectElement's typings clash with the Workers types this project also loads.)
const filter = () => byId<HTMLElement & { value: string }>("requests-filter");

export function initRequestLog(): void {
  const select = filter();
  select.appendChild(h("option", { value: "", text: "All outcomes" }));
  for (const [outcome, label] of Object.entries(OUTCOME_LABELS)) select.appendChild(h("option", { value: outcome, text: label }));
  select.addEventListener("change", () => shownKey && void load(shownKey, false));
  byId("requests-more").addEventListener("click", () => shownKey && void load(shownKey, true));
}

/** Shows the newest calls of key `id`, every outcome. */
export function showRequestLog(id: string): void {
  shownKey = id;
  filter().value = "";
  void load(id, false);
}

/** The dialog closed: an answer still on its way is dropped. */
export function closeRequestLog(): void {
  shownKey = null;
  seq++;
}

async function load(id: string, more: boolean): Promise<void> {
  const at = ++seq;
  const table = byId<HTMLTableElement>("requests-table");
  const body = table.tBodies[0]!;
  const state = byId("requests-state");
  const moreButton = byId<HTMLButtonElement>("requests-more");
  const outcome = (filter().value || null) as Outcome | null;
  if (!more) {
    body.textContent = "";
    cursor = null;
    show(moreButton, false);
    state.textContent = "Loading requests…";
  }
  table.setAttribute("aria-busy", "true");
  moreButton.disabled = true;
  try {
    const page = await keyRequests(id, outcome, more ? cursor : null);
    if (at !== seq) return;
    for (const r of page.data) body.appendChild(row(r));
    cursor = page.nextCursor;
    state.textContent = body.rows.length
      ? ""
      : outcome
        ? `No “${OUTCOME_LABELS[outcome]}” requests in the last 30 days.`
        : "No requests in the last 30 days.";
    show(moreButton, !!cursor);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (at !== seq || error.status === 401) return; // a 401 has signed out already
    state.textContent = "";
    const retry = h("button", { type: "button", className: "quiet", text: "Try again" });
    retry.addEventListener("click", () => void load(id, more));
    state.appendChild(h("p", { className: "error" }, `Couldn't load requests: ${error.message} `, retry));
  }
  if (at !== seq) return;
  table.removeAttribute("aria-busy");
  moreButton.disabled = false;
}

function row(r: LoggedRequest): HTMLTableRowElement {
  const refused = r.outcome !== "ok";
  return h(
    "tr",
    { className: refused ? "refused" : undefined, "data-outcome": r.outcome },
    h("td", { "data-label": "Time" }, timeEl(r.at)),
    h("td", { "data-label": "Outcome" }, h("span", { className: "outcome", text: OUTCOME_LABELS[r.outcome] }), ` · ${r.status}`),
    h("td", { "data-label": "Request", className: "request" }, h("code", { text: `${r.method} ${r.path}` })),
    h(
      "td",
      { "data-label": "From" },
      r.ip ? h("code", { text: r.ip }) : h("span", { className: "never", text: "Unknown address" }),
      r.country ? ` (${r.country})` : null,
    ),
  );
}
