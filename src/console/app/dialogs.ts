/**
 * The page's modal dialogs: which one is open, and where focus goes back to
 * when it closes (the control that opened it, or "Create API key").
 */
import { byId } from "./dom";

const dialogs: HTMLDialogElement[] = [];
let opener: HTMLElement | null = null;

/** Makes a <dialog> of the page known here: closing it returns focus, signing out closes it. */
export function registerDialog(id: string): HTMLDialogElement {
  const dialog = byId<HTMLDialogElement>(id);
  dialogs.push(dialog);
  dialog.addEventListener("close", () => setTimeout(restoreFocus, 0));
  return dialog;
}

/** Opens a dialog; when it closes, focus goes back to `from` (if it is still on the page). */
export function openDialog(dialog: HTMLDialogElement, from: HTMLElement | null): void {
  opener = from;
  dialog.showModal();
}

/** Where focus goes when the open dialog closes, when that is no longer its opener (e.g. a revoked key's row is gone). */
export function returnFocusTo(el: HTMLElement | null): void {
  opener = el;
}

export function closeDialogs(): void {
  for (const dialog of dialogs) if (dialog.open) dialog.close();
}

function restoreFocus(): void {
  if (document.querySelector("dialog[open]")) return; // another dialog took over
  const target = opener;
  opener = null;
  if (target && document.contains(target) && !target.hidden) target.focus();
  else if (!byId("keys").hidden) byId("create-open").focus();
  else if (!byId("webhooks").hidden) byId("webhook-add-open").focus();
}
