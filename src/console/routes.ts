import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { CONSOLE_JS } from "./client";
import { CONSOLE_CSS, CONSOLE_HTML } from "./page";

/**
 * GET /console: the API keys page. Its script and style are served here too,
 * so nothing comes from another origin; the CSP lets the page talk to this
 * origin only, and never run inline script.
 */
export const consoleRoutes = new Hono<AppEnv>();

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const pageHeaders = {
  "Content-Security-Policy": CSP,
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-cache",
};

consoleRoutes.get("/console", (c) => c.html(CONSOLE_HTML, 200, pageHeaders));
consoleRoutes.get("/console/", (c) => c.redirect("/console", 301));
consoleRoutes.get("/console/app.js", (c) =>
  c.body(CONSOLE_JS, 200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache" }),
);
consoleRoutes.get("/console/app.css", (c) =>
  c.body(CONSOLE_CSS, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "no-cache" }),
);
