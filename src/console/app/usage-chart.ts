/**
 * A key's requests per day as a bar chart, refused calls stacked on served
 * ones: inline SVG made here, element by element (createElementNS), with no
 * chart library. Everything about its look
 * is an SVG attribute (geometry) or a class styled by app.css: the page's CSP
 * allows no inline style. Each day's bar carries a <title> (its date and
 * count), which browsers show on hover and screen readers read.
 */
import type { KeyUsage } from "./api";
import { h } from "./dom";

const SVG = "http://www.w3.org/2000/svg";
/** Each day is this wide in the viewBox (the bar plus a gap); the chart stretches to its box. */
const STEP = 10;
const BAR = 8;
const HEIGHT = 60;

type Day = KeyUsage["data"][number];

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  ...children: Node[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.appendChild(child);
  return el;
}

const title = (text: string) => {
  const el = svg("title", {});
  el.textContent = text;
  return el;
};

/** "Nov 26, 2026" for a UTC day "2026-11-26". */
export function dayLabel(date: string, style: "medium" | "short" = "medium"): string {
  const at = new Date(`${date}T00:00:00Z`);
  return style === "medium"
    ? at.toLocaleDateString("en-US", { dateStyle: "medium", timeZone: "UTC" })
    : at.toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

const requests = (n: number) => `${n.toLocaleString("en-US")} ${n === 1 ? "request" : "requests"}`;

/**
 * A day's calls, served and refused. `requests` counts the calls that passed
 * the key's checks, those refused for their scope or rate limit included, so
 * served ones are `requests` less those two (on days before outcomes were
 * counted, their outcomes are zeros and every request shows as served).
 */
export function split(day: Day): { served: number; refused: number } {
  const o = day.outcomes;
  return {
    served: Math.max(0, day.requests - o.insufficient_scope - o.rate_limited),
    refused: o.insufficient_scope + o.ip_not_allowed + o.rate_limited + o.revoked + o.expired,
  };
}

/** "Nov 26, 2026: 2 requests", or with refused ones "Nov 26, 2026: 27 requests, 5 refused". */
const dayTitle = (day: Day) => {
  const { served, refused } = split(day);
  return `${dayLabel(day.date)}: ${requests(served + refused)}${refused ? `, ${refused.toLocaleString("en-US")} refused` : ""}`;
};

/** The chart: per day, served calls with the refused ones stacked on top; the first and last day under it. */
export function usageChart(days: Day[]): HTMLElement {
  const width = Math.max(days.length, 1) * STEP;
  const totals = days.map((d) => {
    const { served, refused } = split(d);
    return { day: d, served, refused, all: served + refused };
  });
  const max = Math.max(1, ...totals.map((t) => t.all));
  const busiest = totals.reduce<(typeof totals)[number] | null>((best, t) => (t.all > (best?.all ?? 0) ? t : best), null);
  const sum = totals.reduce((n, t) => n + t.all, 0);
  const refusedSum = totals.reduce((n, t) => n + t.refused, 0);
  const summary = busiest
    ? `Requests per day over the last ${days.length} days: ${requests(sum)} in total${refusedSum ? ` (${refusedSum.toLocaleString("en-US")} refused)` : ""}, the most on ${dayLabel(busiest.day.date)} (${busiest.all.toLocaleString("en-US")}).`
    : `Requests per day over the last ${days.length} days: none.`;

  const chart = svg("svg", {
    class: "bars",
    role: "img",
    viewBox: `0 0 ${width} ${HEIGHT}`,
    preserveAspectRatio: "none",
    width: "100%",
    height: 72,
    focusable: "false",
  });
  chart.appendChild(title(summary));
  chart.appendChild(svg("rect", { class: "axis", x: 0, y: HEIGHT - 0.5, width, height: 0.5 }));
  totals.forEach(({ day, served, refused, all }, i) => {
    // A used day is at least one unit tall, so that a single call is visible next to thousands; refused ones likewise.
    const tall = (n: number) => (n ? Math.max(1, (n / max) * (HEIGHT - 2)) : 0);
    const servedHeight = tall(served);
    const refusedHeight = tall(refused);
    const x = i * STEP + (STEP - BAR) / 2;
    chart.appendChild(
      svg(
        "g",
        {
          class: all ? "day" : "day idle",
          "data-date": day.date,
          "data-requests": day.requests,
          "data-served": served,
          "data-refused": refused,
        },
        title(dayTitle(day)),
        // The whole column answers hover, not only the bar (an idle day has none).
        svg("rect", { class: "hit", x: i * STEP, y: 0, width: STEP, height: HEIGHT }),
        svg("rect", { class: "bar", x, y: HEIGHT - servedHeight, width: BAR, height: servedHeight }),
        svg("rect", { class: "refused-bar", x, y: HEIGHT - servedHeight - refusedHeight, width: BAR, height: refusedHeight }),
      ),
    );
  });

  const first = days[0];
  const last = days[days.length - 1];
  return h(
    "figure",
    { className: "chart-figure" },
    chart,
    h(
      "figcaption",
      { className: "axis-labels", "aria-hidden": "true" },
      h("span", { text: first ? dayLabel(first.date, "short") : "" }),
      h(
        "span",
        { className: "legend" },
        h("span", { className: "key served", text: "served" }),
        h("span", { className: "key refused", text: "refused" }),
        busiest ? ` · at most ${max.toLocaleString("en-US")} a day` : null,
      ),
      h("span", { text: last ? `${dayLabel(last.date, "short")} (today, UTC)` : "" }),
    ),
  );
}

/** "1,234 requests in the last 30 days", with ", 56 refused" when some were. */
export function usageSummary(days: Day[], period: number): string {
  let all = 0;
  let refusedSum = 0;
  for (const d of days) {
    const { served, refused } = split(d);
    all += served + refused;
    refusedSum += refused;
  }
  if (!all) return `No requests in the last ${period} days`;
  return `${requests(all)} in the last ${period} days${refusedSum ? `, ${refusedSum.toLocaleString("en-US")} refused` : ""}`;
}
