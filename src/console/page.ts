import { SCOPE_DESCRIPTIONS, SCOPES } from "../keys/scopes";

/**
 * The console's one page: Settings · API keys. A static shell; everything in
 * it comes from the JSON API, called by /console/app.js with the session
 * token, exactly as a console on another origin would.
 */
const esc = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

const SCOPE_TITLES: Record<(typeof SCOPES)[number], string> = {
  "sources:read": "Sources Read",
  "sources:write": "Sources Write",
  "sources:delete": "Sources Delete",
};

const scopeChoices = SCOPES.map((scope, i) => {
  const id = `scope-${i}`;
  return `<div class="scope"><input type="checkbox" id="${id}" name="scopes" value="${esc(scope)}" aria-describedby="${id}-desc">
<label for="${id}"><strong>${esc(SCOPE_TITLES[scope])}</strong> <code>${esc(scope)}</code></label>
<p class="hint" id="${id}-desc">${esc(SCOPE_DESCRIPTIONS[scope])}</p></div>`;
}).join("\n");

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>API keys · owlish console</title>
<link rel="stylesheet" href="/console/app.css">
<script src="/console/app.js" defer></script>
</head>
<body>
<header class="top">
  <p class="crumbs"><span>Console</span> · <span>Settings</span> · <strong>API keys</strong></p>
  <div id="who" class="who" hidden><span id="who-text"></span> <button type="button" id="sign-out" class="quiet">Sign out</button></div>
</header>
<main>
<noscript><p class="error">This page needs JavaScript to call the API.</p></noscript>

<section id="signin" aria-labelledby="signin-title" hidden>
  <h1 id="signin-title">Sign in to manage API keys</h1>
  <p id="signin-reason" class="error" role="alert" hidden></p>
  <p>This page calls the API with a console session token. Paste one to continue. It is kept in this tab's memory only:
  reloading or closing the page signs you out.</p>
  <form id="signin-form" class="card" novalidate>
    <label for="token-input">Session token</label>
    <input id="token-input" name="token" type="password" autocomplete="off" spellcheck="false" required aria-describedby="token-hint">
    <p class="hint" id="token-hint">A JWT issued by the console's login system for a workspace admin.</p>
    <div class="actions"><button type="submit" class="primary">Sign in</button></div>
  </form>
  <p class="hint">Running locally? <code>npm run dev</code> prints a console link that signs in the demo admin (a development convenience only).</p>
</section>

<section id="keys" aria-labelledby="keys-title" hidden>
  <div class="heading">
    <div>
      <h1 id="keys-title">API keys</h1>
      <p class="lead">Keys let scripts and external systems use the public API without a user session. Use one key per integration and rotate them periodically.</p>
    </div>
    <div class="heading-actions">
      <button type="button" id="refresh" class="quiet">Refresh</button>
      <button type="button" id="create-open" class="primary" aria-haspopup="dialog">Create API key</button>
    </div>
  </div>
  <p id="notice" class="notice" role="status" aria-live="polite"></p>

  <h2 id="active-title">Active keys</h2>
  <div class="table-wrap">
    <table id="active-table" aria-labelledby="active-title" aria-describedby="active-help">
      <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col">Created</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p id="active-help" class="hint">Select a key to see its details or revoke it.</p>
  <div id="active-state" class="state" role="status" aria-live="polite"></div>
  <button type="button" id="active-more" class="quiet" hidden>Show more active keys</button>

  <h2 id="revoked-title">Revoked keys</h2>
  <p class="hint">Revoked keys no longer work and can't be reactivated; they stay here for audit.</p>
  <div class="table-wrap">
    <table id="revoked-table" aria-labelledby="revoked-title">
      <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col">Created</th><th scope="col">Revoked</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <div id="revoked-state" class="state" role="status" aria-live="polite"></div>
  <button type="button" id="revoked-more" class="quiet" hidden>Show more revoked keys</button>
</section>
</main>

<dialog id="create-dialog" aria-labelledby="create-title">
  <form id="create-form" novalidate>
    <h2 id="create-title">Create API key</h2>
    <label for="key-name">Name</label>
    <input id="key-name" name="name" maxlength="100" autocomplete="off" required aria-describedby="key-name-hint key-name-error">
    <p class="hint" id="key-name-hint">What the key is for, e.g. "Zapier sync". Admins see it in the keys list.</p>
    <p class="field-error" id="key-name-error" hidden></p>
    <fieldset aria-describedby="scopes-hint scopes-error">
      <legend>Scopes</legend>
      <p class="hint" id="scopes-hint">Pick the smallest set the integration needs. You can always create another key later.</p>
      ${scopeChoices}
      <p class="field-error" id="scopes-error" hidden></p>
    </fieldset>
    <p id="create-error" class="error" role="alert" hidden></p>
    <div class="actions">
      <button type="button" id="create-cancel">Cancel</button>
      <button type="submit" id="create-submit" class="primary">Create key</button>
    </div>
  </form>
</dialog>

<dialog id="secret-dialog" aria-labelledby="secret-title" aria-describedby="secret-warning">
  <h2 id="secret-title">Your new API key</h2>
  <p id="secret-warning" class="warning"><strong>Copy this key now. You won't be able to see it again.</strong>
  Store it in a secrets manager or an environment variable; never commit it to source control.</p>
  <p class="secret-name" id="secret-name"></p>
  <div class="secret">
    <code id="secret-value" tabindex="0" aria-label="The full API key"></code>
    <button type="button" id="secret-copy" class="primary">Copy</button>
  </div>
  <p id="secret-copied" class="hint" role="status" aria-live="polite"></p>
  <div class="actions"><button type="button" id="secret-done">Done</button></div>
</dialog>

<dialog id="key-dialog" aria-labelledby="key-title">
  <h2 id="key-title"></h2>
  <dl id="key-details" class="details"></dl>
  <div id="key-actions" class="actions">
    <button type="button" id="key-close">Close</button>
    <button type="button" id="revoke-start" class="danger">Revoke…</button>
  </div>
  <div id="revoke-confirm" class="confirm" role="group" aria-labelledby="revoke-question" hidden>
    <p id="revoke-question" class="warning"></p>
    <p id="revoke-error" class="error" role="alert" hidden></p>
    <div class="actions">
      <button type="button" id="revoke-cancel">Keep key</button>
      <button type="button" id="revoke-confirm-button" class="danger">Revoke key</button>
    </div>
  </div>
</dialog>
</body>
</html>
`;

export const CONSOLE_CSS = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#e3e5ea;--bg:#fff;--soft:#f4f5f8;--accent:#2b5fb4;--danger:#b23a3a;--warn-bg:#fff6e0;--warn:#7a5200;--focus:#1a73e8}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
.top{display:flex;justify-content:space-between;align-items:center;gap:1rem;padding:.6rem 1.5rem;border-bottom:1px solid var(--line);background:var(--soft)}
.crumbs{margin:0;color:var(--muted);font-size:13px}.crumbs strong{color:var(--fg)}
.who{font-size:13px;color:var(--muted)}
main{max-width:68rem;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.5rem;margin:.5rem 0 .25rem}h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
.heading{display:flex;justify-content:space-between;align-items:flex-start;gap:1rem;flex-wrap:wrap}
.heading-actions{display:flex;gap:.5rem;padding-top:.75rem}
.lead{color:var(--muted);margin:0;max-width:40rem}
.hint{color:var(--muted);font-size:13px;margin:.2rem 0}
button{font:inherit;padding:.4rem .9rem;border-radius:6px;border:1px solid #c4c8d2;background:#fff;color:var(--fg);cursor:pointer}
button:hover{background:var(--soft)}button:disabled{opacity:.6;cursor:default}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}button.primary:hover{background:#234f97}
button.danger{background:var(--danger);border-color:var(--danger);color:#fff}button.danger:hover{background:#962f2f}
button.quiet{background:transparent}
button.link{border:0;background:none;padding:0;color:var(--accent);font-weight:600;text-align:left}
button.link:hover{text-decoration:underline;background:none}
:focus-visible{outline:2px solid var(--focus);outline-offset:2px}
input[type=password],input[type=text],input:not([type]){font:inherit;width:100%;padding:.45rem .6rem;border:1px solid #c4c8d2;border-radius:6px}
label{font-weight:600}
.card{border:1px solid var(--line);border-radius:8px;padding:1rem;max-width:36rem;margin:1rem 0}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;table-layout:fixed;min-width:44rem}
th,td{text-align:left;padding:.55rem .75rem;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
td:first-child{white-space:normal;overflow-wrap:anywhere}td:nth-child(3){white-space:normal}
th:nth-child(1){width:24%}th:nth-child(2){width:15%}th:nth-child(3){width:25%}th:nth-child(4){width:13%}#revoked-table th:nth-child(5){width:11%}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);background:var(--soft)}
tbody tr:last-child td{border-bottom:0}
tbody tr.clickable{cursor:pointer}tbody tr.clickable:hover{background:#f7f9fd}
#revoked-table td{color:var(--muted)}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.scope-tag{display:inline-block;font:12px ui-monospace,Menlo,monospace;background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:0 .35rem;margin:0 .25rem .15rem 0}
.badge{display:inline-block;font-size:11px;font-weight:600;border-radius:4px;padding:0 .35rem;margin-left:.4rem;background:var(--warn-bg);color:var(--warn)}
.badge.expired{background:#fde8e8;color:var(--danger)}
.state{color:var(--muted);padding:.6rem .1rem}.state:empty{display:none}
.state .error{margin:0}
.error{color:var(--danger)}.field-error{color:var(--danger);font-size:13px;margin:.2rem 0}
.notice{min-height:1.5em;margin:.5rem 0;color:#1f6b3a}
.warning{background:var(--warn-bg);color:var(--warn);border-radius:6px;padding:.6rem .8rem}
dialog{border:0;border-radius:10px;padding:1.25rem 1.5rem;max-width:34rem;width:calc(100% - 2rem);box-shadow:0 10px 40px rgba(20,25,40,.3)}
dialog::backdrop{background:rgba(20,25,40,.45)}
dialog h2{margin-top:0}
fieldset{border:0;padding:0;margin:1rem 0 0}legend{font-weight:600;padding:0}
.scope{display:grid;grid-template-columns:auto 1fr;column-gap:.5rem;margin:.5rem 0}
.scope input{margin-top:.3rem}.scope .hint{grid-column:2;margin:0}.scope label{font-weight:400}
.actions{display:flex;justify-content:flex-end;gap:.5rem;margin-top:1rem}
.secret{display:flex;gap:.5rem;align-items:center;border:1px solid var(--line);background:var(--soft);border-radius:6px;padding:.5rem .6rem}
.secret code{flex:1;word-break:break-all;user-select:all}
.secret-name{margin:.75rem 0 .35rem;font-weight:600}
.details{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem;margin:0}.details dt{color:var(--muted)}.details dd{margin:0}
.confirm{border-top:1px solid var(--line);margin-top:1rem;padding-top:.5rem}
`;
