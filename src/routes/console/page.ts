import type { Page } from "../page";

/**
 * GET /console: the API keys page. The page, its script and its style are
 * static assets (scripts/build-console.mjs builds them into the [assets]
 * directory); none of them is in the worker's bundle. Its response headers
 * (the CSP that lets the page load and call this origin only and never run
 * inline script, no framing, no referrer) come with the asset, from
 * src/console/_headers.
 *
 * The worker runs first for every path but the script and the style
 * (wrangler.toml `run_worker_first`), so the API never waits for an asset
 * lookup; the page is therefore fetched from the assets here, which also keeps
 * /console a route of this app: other methods answer 405, like every route.
 */
export const consolePage: Page = { method: "get", path: "/console", handler: () => (c) => c.env.ASSETS.fetch(c.req.raw) };

export const consoleSlash: Page = { method: "get", path: "/console/", handler: () => (c) => c.redirect("/console", 301) };
