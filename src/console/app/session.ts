/**
 * Signing in and out. The session token comes from the URL fragment
 * (#token=…, removed from the address bar and history entry at once) or from
 * the sign-in form, and is handed to api.ts, which keeps it in memory only:
 * reloading the page signs out.
 */
import { setSessionToken, whenUnauthorized } from "./api";
import { clearAttention, loadAttention } from "./attention";
import { closeDialogs } from "./dialogs";
import { byId, show } from "./dom";
import { clearLists, loadAll } from "./key-tables";
import { startPages, stopPages } from "./pages";
import { forgetPolicy, refreshPolicy } from "./policy";
import { clearPolicyPage } from "./policy-page";
import { clearWebhooks } from "./webhooks";

export function initSession(): void {
  byId("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>("token-input");
    const token = input.value.trim();
    input.value = "";
    if (token) signIn(token);
    else {
      byId("signin-reason").textContent = "Paste a session token first.";
      show(byId("signin-reason"), true);
    }
  });
  byId("sign-out").addEventListener("click", () => signOut(""));
  whenUnauthorized((error) => signOut(`Your session is no longer valid (${error.code.replace(/_/g, " ")}). Paste a new session token.`));
  window.addEventListener("hashchange", takeTokenFromFragment);
}

/** Signs in with the token in the URL fragment, if there is one; otherwise shows the sign-in. */
export function startSession(): void {
  if (!takeTokenFromFragment()) signOut("");
}

function takeTokenFromFragment(): boolean {
  if (!location.hash) return false;
  const params = new URLSearchParams(location.hash.slice(1));
  // Remove the fragment from the address bar and this history entry, whatever it held.
  history.replaceState(history.state, "", location.pathname + location.search);
  const token = params.get("token");
  if (!token) return false;
  signIn(token.trim());
  return true;
}

/** The token's claims, for the "Signed in as" line only: the API checks the token, not this page. */
function claims(jwt: string): { sub?: unknown; ws?: unknown } | null {
  try {
    const part = jwt.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

function signIn(token: string): void {
  setSessionToken(token);
  const c = claims(token);
  byId("who-text").textContent = c?.sub ? `Signed in as ${c.sub}${c.ws ? ` · workspace ${c.ws}` : ""}` : "Signed in";
  show(byId("who"), true);
  show(byId("signin"), false);
  startPages();
  byId("notice").textContent = "";
  loadAll();
  void loadAttention();
  // What the dialogs say the workspace's key policy requires.
  void refreshPolicy();
}

function signOut(reason: string): void {
  setSessionToken(null);
  closeDialogs();
  clearLists();
  clearAttention();
  clearWebhooks();
  forgetPolicy();
  clearPolicyPage();
  show(byId("who"), false);
  stopPages();
  show(byId("signin"), true);
  byId("signin-reason").textContent = reason;
  show(byId("signin-reason"), !!reason);
  const input = byId<HTMLInputElement>("token-input");
  input.value = "";
  input.focus();
}
