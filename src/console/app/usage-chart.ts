/**
 * A key's requests per day as a bar chart: inline SVG made here, element by
 * element (createElementNS), with no chart library. Everything about its look
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

/** The chart, with the first and last day under it. */
export function usageChart(days: Day[], total: number): HTMLElement {
  const width = Math.max(days.length, 1) * STEP;
  const max = Math.max(1, ...days.map((d) => d.requests));
  const busiest = days.reduce<Day | null>((best, d) => (d.requests > (best?.requests ?? 0) ? d : best), null);
  const summary = busiest
    ? `Requests per day over the last ${days.length} days: ${requests(total)} in total, the most on ${dayLabel(busiest.date)} (${busiest.requests.toLocaleString("en-US")}).`
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
  days.forEach((day, i) => {
    // A used day is at least one unit tall, so that a single call is visible next to thousands.
    const barHeight = day.requests ? Math.max(1, (day.requests / max) * (HEIGHT - 2)) : 0;
    chart.appendChild(
      svg(
        "g",
        { class: day.requests ? "day" : "day idle", "data-date": day.date, "data-requests": day.requests },
        title(`${dayLabel(day.date)}: ${requests(day.requests)}`),
        // The whole column answers hover, not only the bar (an idle day has none).
        svg("rect", { class: "hit", x: i * STEP, y: 0, width: STEP, height: HEIGHT }),
        svg("rect", { class: "bar", x: i * STEP + (STEP - BAR) / 2, y: HEIGHT - barHeight, width: BAR, height: barHeight }),
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
      h("span", { text: busiest ? `at most ${max.toLocaleString("en-US")} a day` : "" }),
      h("span", { text: last ? `${dayLabel(last.date, "short")} (today, UTC)` : "" }),
    ),
  );
}

/** "1,234 requests in the last 30 days". */
export function usageTotal(total: number, days: number): string {
  return total ? `${requests(total)} in the last ${days} days` : `No requests in the last ${days} days`;
}
