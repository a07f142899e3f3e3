import { POLICY_RULES } from "../keys/guard-rails";
import { SCOPE_DESCRIPTIONS, SCOPES } from "../keys/scopes";
import { escapeHtml as esc } from "../lib/html";
import { KEY_EVENT_DESCRIPTIONS, KEY_EVENT_TYPES } from "../webhooks/event-types";

/**
 * The console's one page: Settings · API keys, Settings · Webhooks and Settings · Key policy (one
 * shown at a time, switched in the page: the session lives in its memory). A static shell, rendered once
 * at build time (scripts/build-console.mjs writes it as a static asset);
 * everything in it that changes comes from the JSON API, called by
 * /console/app.js with the session token, exactly as a console on another
 * origin would.
 */

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

/** The key events an endpoint receives, as the add dialog's labelled checkboxes (all checked: the API's default). */
const eventChoices = KEY_EVENT_TYPES.map((event, i) => {
  const id = `event-${i}`;
  return `<div class="scope"><input type="checkbox" id="${id}" name="events" value="${esc(event)}" checked aria-describedby="${id}-desc">
<label for="${id}"><code>${esc(event)}</code></label>
<p class="hint" id="${id}-desc">${esc(KEY_EVENT_DESCRIPTIONS[event])}</p></div>`;
}).join("\n");

/** The rolled key's overlap choices: how long the old key keeps working next to the new one. */
const OVERLAPS: [seconds: number, label: string][] = [
  [0, "None: it stops now"],
  [3_600, "1 hour"],
  [86_400, "24 hours"],
  [259_200, "3 days"],
  [604_800, "7 days"],
];
const DEFAULT_OVERLAP = 86_400;

const overlapChoices = OVERLAPS.map(
  ([seconds, label]) =>
    `<div class="choice"><input type="radio" id="overlap-${seconds}" name="overlap" value="${seconds}"${seconds === DEFAULT_OVERLAP ? " checked" : ""}><label for="overlap-${seconds}">${esc(label)}</label></div>`,
).join("\n");

/**
 * A key's guard rails as form fields (the create dialog's "More options" and
 * the key dialog's edit form): an IP allowlist and a rate limit, both optional.
 * `p` prefixes every id; guard-fields.ts reads and fills them.
 */
const guardFields = (p: string) => `<label for="${p}-allowlist">Restrict to IP addresses</label>
    <textarea id="${p}-allowlist" name="ipAllowlist" rows="3" autocomplete="off" spellcheck="false" aria-describedby="${p}-allowlist-required ${p}-allowlist-hint ${p}-allowlist-error"></textarea>
    <p class="policy-note" id="${p}-allowlist-required" hidden>Required by your workspace's key policy: at least one address or range.</p>
    <p class="hint" id="${p}-allowlist-hint">One address or CIDR range per line (or separated by commas), e.g. <code>203.0.113.7</code> or <code>2001:db8::/32</code>. Calls from anywhere else are refused. Leave empty to allow any address.</p>
    <p class="field-error" id="${p}-allowlist-error" hidden></p>
    <fieldset class="rate" aria-describedby="${p}-rate-hint ${p}-rate-error">
      <legend>Rate limit</legend>
      <div class="rate-inputs">
        <input id="${p}-rate-limit" name="rateLimit" type="number" inputmode="numeric" min="1" max="100000" step="1" autocomplete="off" aria-label="Requests per period">
        <span aria-hidden="true">requests per</span>
        <select id="${p}-rate-period" name="ratePeriod" aria-label="Period">
          <option value="1">second</option>
          <option value="60" selected>minute</option>
          <option value="3600">hour</option>
        </select>
      </div>
      <p class="hint" id="${p}-rate-hint">Calls over the limit are refused with 429 until the period ends. Leave empty for no limit.</p>
      <p class="field-error" id="${p}-rate-error" hidden></p>
    </fieldset>`;

const [MIN_LIFETIME, MAX_LIFETIME] = POLICY_RULES.maxLifetimeDays.range;
const [MIN_IDLE, MAX_IDLE] = POLICY_RULES.idleRevokeDays.range;

/** A rule of the Policy page: a checkbox that turns it on and, for a number of days, its field. */
const dayRule = (id: string, label: string, range: readonly [number, number], unitLabel: string) =>
  `<div class="rule-line"><input type="checkbox" id="policy-${id}-on" aria-describedby="policy-${id}-hint policy-${id}-error"><label for="policy-${id}-on">${esc(label)}</label>
        <input id="policy-${id}-days" type="number" inputmode="numeric" min="${range[0]}" max="${range[1]}" step="1" autocomplete="off" aria-label="${esc(unitLabel)}" aria-describedby="policy-${id}-error"> <span aria-hidden="true">days</span></div>`;

export const renderConsolePage = (): string => `<!doctype html>
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
  <p class="crumbs"><span>Console</span> · <span>Settings</span> · <strong id="crumb">API keys</strong></p>
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

<nav id="pages" class="pages" aria-label="Settings pages" hidden>
  <button type="button" id="nav-keys" class="page-tab" aria-current="page">API keys</button>
  <button type="button" id="nav-webhooks" class="page-tab">Webhooks</button>
  <button type="button" id="nav-policy" class="page-tab">Key policy</button>
</nav>

<section id="keys" aria-labelledby="keys-title" hidden>
  <div class="heading">
    <div>
      <h1 id="keys-title" tabindex="-1">API keys</h1>
      <p class="lead">Keys let scripts and external systems use the public API without a user session. Use one key per integration and rotate them periodically.</p>
    </div>
    <div class="heading-actions">
      <button type="button" id="refresh" class="quiet">Refresh</button>
      <button type="button" id="create-open" class="primary" aria-haspopup="dialog">Create API key</button>
    </div>
  </div>
  <p id="notice" class="notice" role="status" aria-live="polite"></p>

  <section id="attention" class="attention" aria-labelledby="attention-title" hidden>
    <h2 id="attention-title">Needs attention</h2>
    <ul id="attention-list"></ul>
  </section>
  <div id="attention-state" class="state" role="status" aria-live="polite"></div>

  <h2 id="active-title">Active keys</h2>
  <div class="table-wrap">
    <table id="active-table" class="keys" aria-labelledby="active-title" aria-describedby="active-help">
      <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col" class="sort-col" aria-sort="descending"><button type="button" class="sort" data-sort="created" aria-describedby="sort-hint">Created</button></th><th scope="col" class="sort-col num"><button type="button" class="sort" data-sort="usage" aria-describedby="sort-hint">30 days</button></th></tr></thead>
      <tbody></tbody>
      <tbody class="stopped-keys"></tbody>
    </table>
  </div>
  <p id="active-help" class="hint">Select a key to see its details and usage, edit, roll or revoke it. <span id="sort-hint">Select Created or 30 days (requests in the last 30 days) to sort by it, again to reverse; keys that stopped working stay at the end.</span></p>
  <div id="active-state" class="state" role="status" aria-live="polite"></div>
  <button type="button" id="active-more" class="quiet" hidden>Show more active keys</button>

  <h2 id="revoked-title">Revoked keys</h2>
  <p class="hint">Revoked keys no longer work and can't be reactivated; they stay here for audit, the latest revoked first.</p>
  <div class="table-wrap">
    <table id="revoked-table" class="keys" aria-labelledby="revoked-title">
      <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col">Created</th><th scope="col" class="sort-col" aria-sort="descending"><span class="sort">Revoked</span></th><th scope="col">Reason</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <div id="revoked-state" class="state" role="status" aria-live="polite"></div>
  <button type="button" id="revoked-more" class="quiet" hidden>Show more revoked keys</button>
</section>

<section id="webhooks" aria-labelledby="webhooks-title" hidden>
  <div class="heading">
    <div>
      <h1 id="webhooks-title" tabindex="-1">Webhooks</h1>
      <p class="lead">Events about your keys (revoked, expiring, still used after revoke…) are POSTed to these endpoints as they happen, signed so your receiver can check they come from here.</p>
    </div>
    <div class="heading-actions">
      <button type="button" id="webhooks-refresh" class="quiet">Refresh</button>
      <button type="button" id="webhook-add-open" class="primary" aria-haspopup="dialog">Add endpoint</button>
    </div>
  </div>
  <p id="webhooks-notice" class="notice" role="status" aria-live="polite"></p>
  <div class="table-wrap">
    <table id="webhooks-table" class="cards" aria-labelledby="webhooks-title" aria-describedby="webhooks-help">
      <thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p id="webhooks-help" class="hint">Select an endpoint to see its deliveries, send a test event, disable or delete it. At most 10 endpoints; each event is retried for more than a day until the receiver answers 2xx.</p>
  <div id="webhooks-state" class="state" role="status" aria-live="polite"></div>
</section>

<section id="policy" aria-labelledby="policy-title" hidden>
  <div class="heading">
    <div>
      <h1 id="policy-title" tabindex="-1">Key policy</h1>
      <p class="lead">Rules every key of this workspace must follow. They bind keys as they are created, rolled or edited: keys that already exist keep working as they are, except that idle keys are revoked, each announced a week before.</p>
    </div>
  </div>
  <p id="policy-notice" class="notice" role="status" aria-live="polite"></p>
  <div id="policy-state" class="state" role="status" aria-live="polite"></div>
  <form id="policy-form" class="card policy-form" novalidate hidden>
    <fieldset>
      <legend>Maximum lifetime</legend>
      ${dayRule("lifetime", "Keys expire within", [MIN_LIFETIME, MAX_LIFETIME], "Maximum lifetime in days")}
      <p class="hint" id="policy-lifetime-hint">A new or rolled key needs an expiry at most this many days away (${MIN_LIFETIME}–${MAX_LIFETIME}); one made without an expiry gets the longest allowed. Keys that exist keep their expiry.</p>
      <p class="field-error" id="policy-lifetime-error" hidden></p>
    </fieldset>
    <fieldset>
      <legend>IP allowlist</legend>
      <div class="rule-line"><input type="checkbox" id="policy-allowlist-on" aria-describedby="policy-allowlist-hint"><label for="policy-allowlist-on">Require an IP allowlist on every key</label></div>
      <p class="hint" id="policy-allowlist-hint">A new key needs at least one address or range, no key's list can be emptied, and a key without one cannot be rolled until it has one. Keys without one keep working.</p>
    </fieldset>
    <fieldset>
      <legend>Idle keys</legend>
      ${dayRule("idle", "Revoke keys unused for", [MIN_IDLE, MAX_IDLE], "Days unused before a key is revoked")}
      <p class="hint" id="policy-idle-hint">Counted from a key's last use, or its creation (${MIN_IDLE}–${MAX_IDLE} days). Each key is announced at least 7 days before it is revoked (an <code>api_key.idle</code> webhook event), a use in between spares it, and nothing is revoked in the first 7 days after you set or change this.</p>
      <p class="field-error" id="policy-idle-error" hidden></p>
    </fieldset>
    <p id="policy-saved" class="hint"></p>
    <p id="policy-error" class="error" role="alert" hidden></p>
    <div class="actions"><button type="submit" id="policy-review" class="primary">Review changes…</button></div>
  </form>
  <section id="policy-check" class="policy-check" aria-labelledby="policy-check-title" hidden>
    <h2 id="policy-check-title" tabindex="-1">Keys that would not comply</h2>
    <p id="policy-check-summary"></p>
    <div class="table-wrap">
      <table id="violations-table" class="violations" aria-labelledby="policy-check-title">
        <thead><tr><th scope="col">Key</th><th scope="col">Rule</th><th scope="col">Why</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p id="violations-truncated" class="hint" hidden></p>
    <p id="policy-save-error" class="error" role="alert" hidden></p>
    <div class="actions" id="policy-check-actions">
      <button type="button" id="policy-check-cancel">Back to editing</button>
      <button type="button" id="policy-save" class="primary">Save policy</button>
    </div>
  </section>
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
    <p id="create-policy" class="policy-note" hidden></p>
    <details id="create-more" class="more">
      <summary>More options</summary>
      <label for="create-expires">Expires on</label>
      <input id="create-expires" name="expiresOn" type="date" autocomplete="off" aria-describedby="create-expires-hint create-expires-error">
      <p class="hint" id="create-expires-hint"></p>
      <p class="field-error" id="create-expires-error" hidden></p>
      <p class="hint">Optional guard rails. You can change them later.</p>
      ${guardFields("create")}
    </details>
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
  <p class="hint" id="secret-note" hidden></p>
  <div class="secret">
    <code id="secret-value" tabindex="0" aria-label="The full API key"></code>
    <button type="button" id="secret-copy" class="primary">Copy</button>
  </div>
  <p id="secret-copied" class="hint" role="status" aria-live="polite"></p>
  <div class="actions"><button type="button" id="secret-done">Done</button></div>
</dialog>

<dialog id="webhook-add-dialog" aria-labelledby="webhook-add-title">
  <form id="webhook-add-form" novalidate>
    <h2 id="webhook-add-title">Add a webhook endpoint</h2>
    <label for="webhook-url">URL</label>
    <input id="webhook-url" name="url" type="url" maxlength="2000" autocomplete="off" spellcheck="false" required aria-describedby="webhook-url-hint webhook-url-error">
    <p class="hint" id="webhook-url-hint">Your receiver's <code>https://</code> address, e.g. <code>https://hooks.example.com/owlish</code>. Not localhost or a private address.</p>
    <p class="field-error" id="webhook-url-error" hidden></p>
    <label for="webhook-description">Description (optional)</label>
    <input id="webhook-description" name="description" maxlength="500" autocomplete="off" aria-describedby="webhook-description-error">
    <p class="field-error" id="webhook-description-error" hidden></p>
    <fieldset aria-describedby="webhook-events-hint webhook-events-error">
      <legend>Events</legend>
      <p class="hint" id="webhook-events-hint">What this endpoint receives. You can change it later.</p>
      ${eventChoices}
      <p class="field-error" id="webhook-events-error" hidden></p>
    </fieldset>
    <p id="webhook-add-error" class="error" role="alert" hidden></p>
    <div class="actions">
      <button type="button" id="webhook-add-cancel">Cancel</button>
      <button type="submit" id="webhook-add-submit" class="primary">Add endpoint</button>
    </div>
  </form>
</dialog>

<dialog id="webhook-secret-dialog" aria-labelledby="webhook-secret-title" aria-describedby="webhook-secret-warning">
  <h2 id="webhook-secret-title">The endpoint's signing secret</h2>
  <p id="webhook-secret-warning" class="warning"><strong>Copy this secret now. You won't be able to see it again.</strong>
  Your receiver checks every event's <code>webhook-signature</code> with it; keep it in a secrets manager, never in source control.</p>
  <p class="secret-name" id="webhook-secret-url"></p>
  <div class="secret">
    <code id="webhook-secret-value" tabindex="0" aria-label="The signing secret"></code>
    <button type="button" id="webhook-secret-copy" class="primary">Copy</button>
  </div>
  <p id="webhook-secret-copied" class="hint" role="status" aria-live="polite"></p>
  <div class="actions"><button type="button" id="webhook-secret-done">Done</button></div>
</dialog>

<dialog id="webhook-dialog" class="wide" aria-labelledby="webhook-title">
  <h2 id="webhook-title" class="url-title"></h2>
  <p id="webhook-disabled" class="warning" hidden></p>
  <dl id="webhook-details" class="details"></dl>
  <p id="webhook-error" class="error" role="alert" hidden></p>
  <div id="webhook-actions" class="actions">
    <button type="button" id="webhook-close">Close</button>
    <button type="button" id="webhook-test">Send test event</button>
    <button type="button" id="webhook-toggle"></button>
    <button type="button" id="webhook-delete-start" class="danger">Delete…</button>
  </div>
  <div id="webhook-delete-confirm" class="confirm" role="group" aria-labelledby="webhook-delete-question" hidden>
    <p id="webhook-delete-question" class="warning">Delete this endpoint? Nothing more is sent to it, its pending deliveries are dropped, and its secret is gone for good.</p>
    <div class="actions">
      <button type="button" id="webhook-delete-cancel">Keep endpoint</button>
      <button type="button" id="webhook-delete-confirm-button" class="danger">Delete endpoint</button>
    </div>
  </div>
  <section class="deliveries" aria-labelledby="deliveries-title">
    <h3 id="deliveries-title">Deliveries</h3>
    <div class="table-wrap">
      <table id="deliveries-table" class="cards" aria-labelledby="deliveries-title">
        <thead><tr><th scope="col">Event</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <div id="deliveries-state" class="state" role="status" aria-live="polite"></div>
    <button type="button" id="deliveries-more" class="quiet" hidden>Show more deliveries</button>
  </section>
</dialog>

<dialog id="key-dialog" aria-labelledby="key-title">
  <h2 id="key-title"></h2>
  <dl id="key-details" class="details"></dl>
  <section id="usage" class="usage" aria-labelledby="usage-title">
    <h3 id="usage-title">Requests, last 30 days</h3>
    <div id="usage-chart" class="chart"></div>
    <p id="usage-summary" class="usage-summary" role="status" aria-live="polite"></p>
  </section>
  <section id="requests" class="requests" aria-labelledby="requests-title">
    <div class="section-head">
      <h3 id="requests-title">Recent requests</h3>
      <label for="requests-filter" class="visually-hidden">Outcome</label>
      <select id="requests-filter" name="outcome"></select>
    </div>
    <div class="table-wrap">
      <table id="requests-table" class="log" aria-labelledby="requests-title">
        <thead><tr><th scope="col">Time</th><th scope="col">Outcome</th><th scope="col">Request</th><th scope="col">From</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <div id="requests-state" class="state" role="status" aria-live="polite"></div>
    <button type="button" id="requests-more" class="quiet" hidden>Show more requests</button>
  </section>
  <div id="key-actions" class="actions">
    <button type="button" id="key-close">Close</button>
    <button type="button" id="edit-start">Edit…</button>
    <button type="button" id="roll-start">Roll…</button>
    <button type="button" id="revoke-start" class="danger">Revoke…</button>
  </div>
  <form id="edit-form" class="confirm" aria-labelledby="edit-title" novalidate hidden>
    <h3 id="edit-title">Edit key</h3>
    <label for="edit-name">Name</label>
    <input id="edit-name" name="name" maxlength="100" autocomplete="off" required aria-describedby="edit-name-error">
    <p class="field-error" id="edit-name-error" hidden></p>
    ${guardFields("edit")}
    <p id="edit-policy" class="policy-note" hidden></p>
    <p class="hint">Scopes never change: create another key with the scopes you need.</p>
    <p id="edit-error" class="error" role="alert" hidden></p>
    <div class="actions">
      <button type="button" id="edit-cancel">Cancel</button>
      <button type="submit" id="edit-submit" class="primary">Save changes</button>
    </div>
  </form>
  <div id="roll-confirm" class="confirm" role="group" aria-labelledby="roll-question" hidden>
    <p id="roll-question" class="warning"></p>
    <fieldset class="choices">
      <legend>Keep the old key working for</legend>
      ${overlapChoices}
    </fieldset>
    <p id="roll-policy" class="policy-note" hidden></p>
    <p id="roll-error" class="error" role="alert" hidden></p>
    <div class="actions">
      <button type="button" id="roll-cancel">Cancel</button>
      <button type="button" id="roll-confirm-button" class="primary">Roll key</button>
    </div>
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
