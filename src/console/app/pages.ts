/**
 * The console's pages, API keys, Webhooks and Key policy: one shown at a time, switched
 * in the page (the session token lives in this page's memory, so a link to
 * another page would sign out). The nav marks the one shown (aria-current).
 */
import { byId, show } from "./dom";
import { loadPolicyPage } from "./policy-page";
import { loadWebhooks } from "./webhooks";

export type PageName = "keys" | "webhooks" | "policy";
const PAGES: readonly PageName[] = ["keys", "webhooks", "policy"];
const TITLES: Record<PageName, string> = { keys: "API keys", webhooks: "Webhooks", policy: "Key policy" };
let shown: PageName = "keys";

export function initPages(): void {
  for (const page of PAGES) byId(`nav-${page}`).addEventListener("click", () => showPage(page));
}

/** After sign-in: the nav, and the API keys page. */
export function startPages(): void {
  show(byId("pages"), true);
  showPage("keys", false);
}

/** At sign-out: no page and no nav. */
export function stopPages(): void {
  show(byId("pages"), false);
  for (const page of PAGES) show(byId(page), false);
}

export function showPage(page: PageName, focus = true): void {
  const entering = page !== shown || byId(page).hidden;
  shown = page;
  for (const name of PAGES) {
    show(byId(name), name === page);
    const tab = byId(`nav-${name}`);
    if (name === page) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  byId("crumb").textContent = TITLES[page];
  document.title = `${TITLES[page]} · owlish console`;
  if (page === "webhooks" && entering) void loadWebhooks();
  if (page === "policy" && entering) void loadPolicyPage();
  if (focus) byId(`${page}-title`).focus();
}
