/**
 * A key's guard rails as form fields: the IP allowlist (a textarea, one entry
 * a line or comma-separated) and the rate limit (a number and a period). The
 * create dialog and the key dialog's edit form each have one set, rendered by
 * page.ts with an id prefix. The API normalises and checks the entries; this
 * module only splits them, and shows the API's field errors at the field.
 */
import type { FieldError, KeyRecord, RateLimit } from "./api";
import { byId, fieldError, h } from "./dom";

/** The periods the select offers; a key limited over another period (set through the API) gets its own option. */
const PERIODS: Record<number, string> = { 1: "second", 60: "minute", 3600: "hour" };
const SHORT: Record<number, string> = { 1: "s", 60: "min", 3600: "h" };

/** "100/min", for the keys table. */
export function rateShort(rate: RateLimit): string {
  const unit = SHORT[rate.periodSeconds] ?? `${rate.periodSeconds}s`;
  return `${rate.limit.toLocaleString("en-US")}/${unit}`;
}

/** "100 requests per minute", for the key dialog. */
export function rateLong(rate: RateLimit): string {
  const requests = `${rate.limit.toLocaleString("en-US")} ${rate.limit === 1 ? "request" : "requests"}`;
  const period = PERIODS[rate.periodSeconds];
  return period ? `${requests} per ${period}` : `${requests} per ${rate.periodSeconds} seconds`;
}

const fields = (p: string) => ({
  allowlist: byId<HTMLTextAreaElement>(`${p}-allowlist`),
  limit: byId<HTMLInputElement>(`${p}-rate-limit`),
  // (A <select>; HTMLSelectElement's typings clash with the Workers types this project also loads.)
  period: byId<HTMLElement & { value: string }>(`${p}-rate-period`),
});

export interface GuardInput {
  ipAllowlist: string[];
  rateLimit: RateLimit | null;
}

/**
 * Marks the allowlist as required by the workspace's key policy (or not):
 * the field says so, and readGuards refuses it empty.
 */
export function requireAllowlist(p: string, required: boolean): void {
  const { allowlist } = fields(p);
  allowlist.required = required;
  if (required) allowlist.setAttribute("aria-required", "true");
  else allowlist.removeAttribute("aria-required");
  byId(`${p}-allowlist-required`).hidden = !required;
}

/** The fields' values, or null after showing what is wrong (and focusing it). */
export function readGuards(p: string): GuardInput | null {
  const { allowlist, limit, period } = fields(p);
  clearGuardErrors(p);
  const ipAllowlist = allowlist.value
    .split(/[\s,]+/)
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (allowlist.required && ipAllowlist.length === 0) {
    invalid(p, allowlist, "allowlist", "Your workspace's key policy requires an IP allowlist: enter at least one address or range.");
    return null;
  }
  const text = limit.value.trim();
  // An empty number field is "no limit"; the browser also empties it for text that is not a number.
  if (!text && !limit.validity.badInput) return { ipAllowlist, rateLimit: null };
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    invalid(p, limit, "rate", "Enter a whole number of requests, 1 or more, or leave it empty for no limit.");
    return null;
  }
  return { ipAllowlist, rateLimit: { limit: value, periodSeconds: Number(period.value) } };
}

/** Shows a key's current guard rails in the fields. */
export function fillGuards(p: string, key: Pick<KeyRecord, "ipAllowlist" | "rateLimit">): void {
  const { allowlist, limit, period } = fields(p);
  clearGuardErrors(p);
  allowlist.value = key.ipAllowlist.join("\n");
  limit.value = key.rateLimit ? String(key.rateLimit.limit) : "";
  for (const option of period.querySelectorAll("option[data-custom]")) option.remove();
  const seconds = key.rateLimit?.periodSeconds ?? 60;
  if (!PERIODS[seconds]) period.appendChild(h("option", { value: String(seconds), "data-custom": true, text: `${seconds} seconds` }));
  period.value = String(seconds);
}

export function clearGuardErrors(p: string): void {
  fieldError(`${p}-allowlist-error`, "");
  fieldError(`${p}-rate-error`, "");
  for (const el of Object.values(fields(p))) el.removeAttribute("aria-invalid");
}

/**
 * Shows the API's field errors (paths like `ipAllowlist.2`, `rateLimit.limit`)
 * at their fields; true when any was about these fields. Focuses the first.
 */
export function showGuardErrors(p: string, errors: FieldError[]): boolean {
  const { allowlist, limit } = fields(p);
  const about = (field: string) => errors.filter((e) => e.path === field || e.path.startsWith(`${field}.`)).map((e) => e.message);
  const allowlistErrors = about("ipAllowlist");
  const rateErrors = about("rateLimit");
  if (rateErrors.length) invalid(p, limit, "rate", unique(rateErrors).join(" "));
  if (allowlistErrors.length) invalid(p, allowlist, "allowlist", unique(allowlistErrors).join(" "));
  return allowlistErrors.length + rateErrors.length > 0;
}

function invalid(p: string, el: HTMLElement, field: "allowlist" | "rate", message: string): void {
  fieldError(`${p}-${field}-error`, message);
  el.setAttribute("aria-invalid", "true");
  el.focus();
}

const unique = (messages: string[]) => [...new Set(messages)];
