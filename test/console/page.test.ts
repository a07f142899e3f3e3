import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SCOPE_DESCRIPTIONS, SCOPES } from "../../src/keys/scopes";
import { call } from "../support/helpers";

/** Every src= and href= of a page. */
const references = (html: string) => [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);

describe("GET /console", () => {
  it("serves the page without credentials, locked to this origin by its CSP", async () => {
    const res = await call("GET", "/console");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    const csp = res.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
    const html = await res.text();
    expect(html).toContain('<h2 id="active-title">Active keys</h2>');
    expect(html).toContain('<h2 id="revoked-title">Revoked keys</h2>');
  });

  it("loads nothing from another origin and runs no inline script", async () => {
    const html = await (await call("GET", "/console")).text();
    const refs = references(html);
    expect(refs).toEqual(expect.arrayContaining(["/console/app.js", "/console/app.css"]));
    for (const ref of refs) expect(ref, ref).toMatch(/^(\/(?!\/)|#|data:)/);
    // The only script element is the external, same-origin one.
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script src="/console/app.js" defer>']);
  });

  it("explains each scope in one line, as the create dialog's labelled checkboxes", async () => {
    const html = await (await call("GET", "/console")).text();
    for (const [i, scope] of SCOPES.entries()) {
      expect(html).toContain(`<input type="checkbox" id="scope-${i}" name="scopes" value="${scope}" aria-describedby="scope-${i}-desc">`);
      expect(html).toContain(`<label for="scope-${i}">`);
      expect(html).toContain(`<p class="hint" id="scope-${i}-desc">${SCOPE_DESCRIPTIONS[scope]}</p>`);
    }
    expect(html).toContain('<label for="key-name">Name</label>');
    expect(html).toContain('<label for="token-input">Session token</label>');
  });

  it("serves its script and style from this worker", async () => {
    // Static assets, served without running the worker (run_worker_first in wrangler.toml).
    const asset = (path: string) => env.ASSETS.fetch(new Request(`https://owlish.test${path}`));
    const js = await asset("/console/app.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("Content-Type")).toMatch(/^text\/javascript/);
    const script = await js.text();
    // The session token goes out as a bearer header (written either way the formatter prefers).
    expect(script).toMatch(/"Bearer " \+ token|`Bearer \$\{token\}`/);
    // Neither the session token nor a new key is ever written to storage or a cookie.
    for (const api of ["localStorage", "sessionStorage", "indexedDB", "document.cookie", "innerHTML", "eval("]) {
      expect(script, api).not.toContain(api);
    }
    const css = await asset("/console/app.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("Content-Type")).toMatch(/^text\/css/);
  });

  it("answers other methods with 405, like every route", async () => {
    const res = await call("POST", "/console");
    expect(res.status).toBe(405);
    expect(res.headers.get("Allow")).toContain("GET");
  });
});

describe("GET /docs", () => {
  it("is one self-contained page: styles inline, no script, nothing from another origin", async () => {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).not.toMatch(/<script\b/);
    for (const ref of references(html)) expect(ref, ref).toMatch(/^(\/(?!\/)|#|data:)/);
    expect(html).not.toMatch(/<link[^>]+rel="stylesheet"/);
  });

  it("documents every error code with its status, and every route with an example request", async () => {
    const html = await (await call("GET", "/docs")).text();
    for (const [code, status] of Object.entries({
      missing_credentials: 401,
      invalid_credentials: 401,
      revoked_api_key: 401,
      expired_credentials: 401,
      insufficient_scope: 403,
      forbidden: 403,
      invalid_request: 400,
      not_found: 404,
      unavailable: 503,
    })) {
      expect(html, code).toMatch(
        new RegExp(`<tr id="error-${code}"><td><code>${code}</code></td><td><code class="s s\\d">${status}</code>`),
      );
    }
    const doc = (await (await call("GET", "/openapi.json")).json()) as { paths: Record<string, Record<string, { operationId: string }>> };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const op of Object.values(item)) {
        const section = html.split(`data-operation="${op.operationId}"`)[1]?.split("</section>")[0] ?? "";
        expect(section, `${op.operationId} ${path}`).toContain("curl -s");
      }
    }
  });
});
