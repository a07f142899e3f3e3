/**
 * The console's pages, API keys and Webhooks: one shown at a time, switched
 * in the page (the session token lives in this page's memory, so a link to
 * another page would sign out). The nav marks the one shown (aria-current).
 */
import { byId, show } from "./dom";
import { loadWebhooks } from "./webhooks";

export type PageName = "keys" | "webhooks";
const TITLES: Record<PageName, string> = { keys: "API keys", webhooks: "Webhooks" };
let shown: PageName = "keys";

export function initPages(): void {
  byId("nav-keys").addEventListener("click", () => showPage("keys"));
  byId("nav-webhooks").addEventListener("click", () => showPage("webhooks"));
}

/** After sign-in: the nav, and the API keys page. */
export function startPages(): void {
  show(byId("pages"), true);
  showPage("keys", false);
}

/** At sign-out: no page and no nav. */
export function stopPages(): void {
  show(byId("pages"), false);
  show(byId("keys"), false);
  show(byId("webhooks"), false);
}

export function showPage(page: PageName, focus = true): void {
  const entering = page !== shown || byId(page).hidden;
  shown = page;
  for (const name of ["keys", "webhooks"] as const) {
    show(byId(name), name === page);
    const tab = byId(`nav-${name}`);
    if (name === page) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  byId("crumb").textContent = TITLES[page];
  document.title = `${TITLES[page]} · owlish console`;
  if (page === "webhooks" && entering) void loadWebhooks();
  if (focus) byId(`${page}-title`).focus();
}
