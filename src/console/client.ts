/**
 * The console page's script, served as /console/app.js. Plain browser
 * JavaScript with no dependencies, kept as a string because the worker only
 * serves it. Rules it follows:
 *
 * - The session token comes from the URL fragment (#token=…, removed from the
 *   address bar at once) or from the sign-in form, and lives in one variable:
 *   never in storage, a cookie or the URL.
 * - Every call goes through fetch() to the JSON API with
 *   `Authorization: Bearer <token>`, as a console on another origin would.
 * - The full key of a new key is shown only in the post-create dialog and is
 *   removed from the page when that dialog closes.
 * - Text from the API is inserted with textContent, never as HTML.
 */
export const CONSOLE_JS = String.raw`"use strict";
(function () {
  var API = "";               // same origin; a console elsewhere would put the API's origin here
  var token = null;           // the session token: memory only
  var lists = {
    active: { status: "active", items: [], cursor: null, seq: 0 },
    revoked: { status: "revoked", items: [], cursor: null, seq: 0 }
  };
  var openKey = null;         // the key record shown in the details dialog
  var opener = null;          // what to focus when a dialog closes

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] == null || attrs[k] === false) continue;
      if (k === "text") el.textContent = attrs[k];
      else if (k === "className") el.className = attrs[k];
      else el.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child == null) continue;
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return el;
  }

  function show(el, visible) { el.hidden = !visible; }

  // ---- times ---------------------------------------------------------------

  var relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  function relative(iso) {
    var seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (Math.abs(seconds) < 45) return seconds <= 0 ? "just now" : "in a few seconds";
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) >= UNITS[i][1] || UNITS[i][0] === "minute") {
        return relativeFormat.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
      }
    }
  }

  function fullTime(iso) {
    return new Date(iso).toLocaleString(undefined, { dateStyle: "full", timeStyle: "long" });
  }

  function timeEl(iso, never) {
    if (!iso) return h("span", { className: "never", text: never || "Never" });
    return h("time", { datetime: iso, title: fullTime(iso), "data-relative": "", text: relative(iso) });
  }

  function refreshTimes() {
    var els = document.querySelectorAll("time[data-relative]");
    for (var i = 0; i < els.length; i++) els[i].textContent = relative(els[i].getAttribute("datetime"));
  }

  // ---- API -----------------------------------------------------------------

  function ApiError(status, code, message, errors) {
    this.status = status; this.code = code; this.message = message; this.errors = errors || [];
  }

  function api(method, path, body) {
    var headers = { Authorization: "Bearer " + token, Accept: "application/json" };
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.ok) return data;
        var err = new ApiError(res.status, (data && data.code) || "http_" + res.status,
          (data && (data.detail || data.title)) || "The service answered " + res.status + ".", data && data.errors);
        if (res.status === 401) signOut("Your session is no longer valid (" + err.code.replace(/_/g, " ") + "). Paste a new session token.");
        throw err;
      });
    }, function () {
      throw new ApiError(0, "network", "Could not reach the service. Check your connection and try again.");
    });
  }

  // ---- session -------------------------------------------------------------

  function claims(jwt) {
    try {
      var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part));
    } catch (e) { return null; }
  }

  function takeTokenFromFragment() {
    if (!location.hash) return false;
    var params = new URLSearchParams(location.hash.slice(1));
    // Remove the fragment from the address bar and this history entry, whatever it held.
    history.replaceState(history.state, "", location.pathname + location.search);
    var t = params.get("token");
    if (!t) return false;
    signIn(t.trim());
    return true;
  }

  function signIn(t) {
    token = t;
    var c = claims(t);
    $("who-text").textContent = c && c.sub
      ? "Signed in as " + c.sub + (c.ws ? " · workspace " + c.ws : "")
      : "Signed in";
    show($("who"), true);
    show($("signin"), false);
    show($("keys"), true);
    $("notice").textContent = "";
    loadAll();
  }

  function signOut(reason) {
    token = null;
    closeDialogs();
    clearLists();
    show($("who"), false);
    show($("keys"), false);
    show($("signin"), true);
    $("signin-reason").textContent = reason || "";
    show($("signin-reason"), !!reason);
    $("token-input").value = "";
    $("token-input").focus();
  }

  // ---- lists ---------------------------------------------------------------

  function clearLists() {
    ["active", "revoked"].forEach(function (name) {
      var list = lists[name];
      list.items = []; list.cursor = null; list.seq++;
      $(name + "-table").tBodies[0].textContent = "";
      $(name + "-state").textContent = "";
      show($(name + "-more"), false);
    });
  }

  function loadAll() { load("active", false); load("revoked", false); }

  function load(name, more) {
    var list = lists[name];
    var seq = ++list.seq;
    var table = $(name + "-table");
    var state = $(name + "-state");
    var moreButton = $(name + "-more");
    table.setAttribute("aria-busy", "true");
    moreButton.disabled = true;
    if (!more) state.textContent = "Loading " + name + " keys…";
    var query = "?status=" + list.status + "&limit=50" + (more && list.cursor ? "&cursor=" + encodeURIComponent(list.cursor) : "");
    return api("GET", "/v1/api-keys" + query).then(function (page) {
      if (seq !== list.seq) return;
      list.items = more ? list.items.concat(page.data) : page.data;
      list.cursor = page.nextCursor;
      render(name);
    }, function (err) {
      if (seq !== list.seq || err.status === 401) return;
      state.textContent = "";
      var retry = h("button", { type: "button", className: "quiet", text: "Try again" });
      retry.addEventListener("click", function () { load(name, more); });
      state.appendChild(h("p", { className: "error" }, "Couldn't load " + name + " keys: " + err.message + " ", retry));
    }).then(function () {
      if (seq !== list.seq) return;
      table.removeAttribute("aria-busy");
      moreButton.disabled = false;
    });
  }

  function scopeTags(scopes) {
    var cell = h("td");
    scopes.forEach(function (s) { cell.appendChild(h("span", { className: "scope-tag", text: s })); });
    return cell;
  }

  function expiry(key) {
    if (!key.expiresAt || key.revokedAt) return null;
    var past = Date.parse(key.expiresAt) <= Date.now();
    return h("span", { className: past ? "badge expired" : "badge", title: "Expires " + fullTime(key.expiresAt) },
      past ? "Expired" : "Expires " + relative(key.expiresAt));
  }

  function row(name, key) {
    var nameButton = h("button", { type: "button", className: "link", "aria-haspopup": "dialog",
      "aria-label": key.name + (name === "active" ? ": details and revoke" : ": details") , text: key.name });
    var tr = h("tr", { className: "clickable", "data-key-id": key.id },
      h("td", null, nameButton, expiry(key)),
      h("td", null, h("code", { text: key.prefix + "…" })),
      scopeTags(key.scopes),
      h("td", null, timeEl(key.lastUsedAt)),
      h("td", null, timeEl(key.createdAt)));
    if (name === "revoked") tr.appendChild(h("td", null, timeEl(key.revokedAt)));
    tr.addEventListener("click", function (event) {
      if (window.getSelection && String(window.getSelection()) && event.target !== nameButton) return;
      openDetails(key, nameButton);
    });
    return tr;
  }

  function render(name) {
    var list = lists[name];
    var body = $(name + "-table").tBodies[0];
    body.textContent = "";
    list.items.forEach(function (key) { body.appendChild(row(name, key)); });
    var state = $(name + "-state");
    state.textContent = list.items.length ? "" : name === "active"
      ? "No active keys yet. Create one for each integration that needs access."
      : "No revoked keys.";
    show($(name + "-more"), !!list.cursor);
  }

  // ---- create --------------------------------------------------------------

  function fieldError(id, message) {
    $(id).textContent = message || "";
    show($(id), !!message);
  }

  function openCreate() {
    var form = $("create-form");
    form.reset();
    fieldError("key-name-error", ""); fieldError("scopes-error", ""); fieldError("create-error", "");
    $("key-name").removeAttribute("aria-invalid");
    opener = $("create-open");
    $("create-dialog").showModal();
    $("key-name").focus();
  }

  function submitCreate(event) {
    event.preventDefault();
    var name = $("key-name").value.trim();
    var boxes = document.querySelectorAll("#create-form input[name=scopes]:checked");
    var scopes = [];
    for (var i = 0; i < boxes.length; i++) scopes.push(boxes[i].value);
    fieldError("key-name-error", name ? "" : "Give the key a name.");
    fieldError("scopes-error", scopes.length ? "" : "Choose at least one scope.");
    fieldError("create-error", "");
    if (!name) { $("key-name").setAttribute("aria-invalid", "true"); $("key-name").focus(); return; }
    $("key-name").removeAttribute("aria-invalid");
    if (!scopes.length) { boxes = document.querySelectorAll("#create-form input[name=scopes]"); boxes[0].focus(); return; }
    var submit = $("create-submit");
    submit.disabled = true; submit.textContent = "Creating…";
    api("POST", "/v1/api-keys", { name: name, scopes: scopes }).then(function (created) {
      $("create-dialog").close();
      showSecret(created);
      var record = {};
      for (var field in created) if (field !== "key") record[field] = created[field];
      created = null;
      lists.active.items = [record].concat(lists.active.items.filter(function (k) { return k.id !== record.id; }));
      render("active");
      load("active", false);
    }, function (err) {
      if (err.status === 401) return;
      var byField = {};
      err.errors.forEach(function (e) { byField[e.path.split(".")[0]] = e.message; });
      if (byField.name) fieldError("key-name-error", byField.name);
      if (byField.scopes) fieldError("scopes-error", byField.scopes);
      fieldError("create-error", "The key was not created: " + err.message);
    }).then(function () {
      submit.disabled = false; submit.textContent = "Create key";
    });
  }

  // ---- the new key, shown once --------------------------------------------

  var secret = null;

  function showSecret(created) {
    secret = created.key;
    $("secret-name").textContent = "“" + created.name + "” · " + created.scopes.join(", ");
    $("secret-value").textContent = secret;
    $("secret-copied").textContent = "";
    opener = $("create-open");
    $("secret-dialog").showModal();
    $("secret-copy").focus();
  }

  function forgetSecret() {
    // The key leaves the page with the dialog: nothing keeps it.
    secret = null;
    $("secret-value").textContent = "";
    $("secret-name").textContent = "";
    $("secret-copied").textContent = "";
  }

  function copySecret() {
    if (!secret) return;
    var done = function () { $("secret-copied").textContent = "Copied to the clipboard."; };
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents($("secret-value"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      selection.removeAllRanges();
      $("secret-copied").textContent = ok ? "Copied to the clipboard." : "Copying failed: select the key and copy it yourself.";
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(secret).then(done, fallback);
    else fallback();
  }

  // ---- details and revoke -------------------------------------------------

  function detail(list, term, value) {
    list.appendChild(h("dt", { text: term }));
    list.appendChild(h("dd", null, value));
  }

  function openDetails(key, from) {
    openKey = key;
    opener = from;
    $("key-title").textContent = key.name;
    var dl = $("key-details");
    dl.textContent = "";
    detail(dl, "Prefix", h("code", { text: key.prefix + "…" }));
    detail(dl, "Scopes", key.scopes.join(", "));
    detail(dl, "Last used", timeEl(key.lastUsedAt));
    detail(dl, "Created", h("span", null, timeEl(key.createdAt), " by " + key.createdBy));
    detail(dl, "Expires", timeEl(key.expiresAt, "Never"));
    if (key.revokedAt) detail(dl, "Revoked", h("span", null, timeEl(key.revokedAt), key.revokedBy ? " by " + key.revokedBy : ""));
    show($("revoke-start"), !key.revokedAt);
    show($("key-actions"), true);
    show($("revoke-confirm"), false);
    fieldError("revoke-error", "");
    $("key-dialog").showModal();
    (key.revokedAt ? $("key-close") : $("revoke-start")).focus();
  }

  function askRevoke() {
    var q = $("revoke-question");
    q.textContent = "";
    q.appendChild(h("strong", { text: "Revoke “" + openKey.name + "”?" }));
    q.appendChild(document.createTextNode(" Anything using this key stops working at once. Revocation is final: the key can't be reactivated."));
    show($("key-actions"), false);
    show($("revoke-confirm"), true);
    $("revoke-cancel").focus();
  }

  function cancelRevoke() {
    show($("revoke-confirm"), false);
    show($("key-actions"), true);
    $("revoke-start").focus();
  }

  function confirmRevoke() {
    var key = openKey;
    var button = $("revoke-confirm-button");
    button.disabled = true; button.textContent = "Revoking…";
    api("POST", "/v1/api-keys/" + encodeURIComponent(key.id) + "/revoke").then(function (revoked) {
      opener = $("create-open");
      $("key-dialog").close();
      $("notice").textContent = "Revoked “" + revoked.name + "”. It now appears under Revoked keys.";
      lists.active.items = lists.active.items.filter(function (k) { return k.id !== key.id; });
      render("active");
      loadAll();
    }, function (err) {
      if (err.status !== 401) fieldError("revoke-error", "The key was not revoked: " + err.message);
    }).then(function () {
      button.disabled = false; button.textContent = "Revoke key";
    });
  }

  // ---- wiring --------------------------------------------------------------

  function closeDialogs() {
    ["create-dialog", "secret-dialog", "key-dialog"].forEach(function (id) { if ($(id).open) $(id).close(); });
  }

  function restoreFocus() {
    if (document.querySelector("dialog[open]")) return;   // another dialog took over
    var target = opener;
    opener = null;
    if (target && document.contains(target) && !target.hidden) target.focus();
    else if (!$("keys").hidden) $("create-open").focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("signin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var t = $("token-input").value.trim();
      $("token-input").value = "";
      if (t) signIn(t);
      else { $("signin-reason").textContent = "Paste a session token first."; show($("signin-reason"), true); }
    });
    $("sign-out").addEventListener("click", function () { signOut(""); });
    $("refresh").addEventListener("click", function () { $("notice").textContent = ""; loadAll(); });
    $("active-more").addEventListener("click", function () { load("active", true); });
    $("revoked-more").addEventListener("click", function () { load("revoked", true); });

    $("create-open").addEventListener("click", openCreate);
    $("create-form").addEventListener("submit", submitCreate);
    $("create-cancel").addEventListener("click", function () { $("create-dialog").close(); });

    $("secret-copy").addEventListener("click", copySecret);
    $("secret-done").addEventListener("click", function () { forgetSecret(); $("secret-dialog").close(); });
    $("secret-dialog").addEventListener("close", forgetSecret);   // Escape closes it too
    $("secret-dialog").addEventListener("cancel", forgetSecret);

    $("key-close").addEventListener("click", function () { $("key-dialog").close(); });
    $("revoke-start").addEventListener("click", askRevoke);
    $("revoke-cancel").addEventListener("click", cancelRevoke);
    $("revoke-confirm-button").addEventListener("click", confirmRevoke);
    $("key-dialog").addEventListener("close", function () { openKey = null; });

    ["create-dialog", "secret-dialog", "key-dialog"].forEach(function (id) {
      $(id).addEventListener("close", function () { setTimeout(restoreFocus, 0); });
    });

    window.addEventListener("hashchange", takeTokenFromFragment);
    setInterval(refreshTimes, 30000);

    if (!takeTokenFromFragment()) signOut("");
  });
})();
`;
