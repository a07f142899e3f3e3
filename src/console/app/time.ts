/** Times as people read them: "3 minutes ago", with the full time on hover. */
import { h } from "./dom";

const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 31_536_000],
  ["month", 2_592_000],
  ["week", 604_800],
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
];

/** "just now", "3 minutes ago", "in 2 days": relative to the browser's clock. */
export function relative(iso: string, now = Date.now()): string {
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Math.abs(seconds) < 45) return seconds <= 0 ? "just now" : "in a few seconds";
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) ?? ["minute", 60];
  return relativeFormat.format(Math.round(seconds / size), unit);
}

/** The full local date and time, with its time zone. */
export function fullTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "full", timeStyle: "long" });
}

/** A <time> that reads relative and keeps up (see refreshTimes); `never` stands for null. */
export function timeEl(iso: string | null, never = "Never"): HTMLElement {
  if (!iso) return h("span", { className: "never", text: never });
  return h("time", { datetime: iso, title: fullTime(iso), "data-relative": true, text: relative(iso) });
}

/** Brings every relative time on the page up to date. */
export function refreshTimes(): void {
  for (const el of document.querySelectorAll("time[data-relative]")) {
    const iso = el.getAttribute("datetime");
    if (iso) el.textContent = relative(iso);
  }
}
