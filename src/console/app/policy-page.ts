/**
 * The Key policy page: the workspace's three rules, and before anything is
 * saved, the review: the working keys that would not comply, from a dry run
 * (PUT /v1/key-policy?dryRun=true, which saves nothing). Saving is a second
 * step from the review. Changing a field after a review drops it, so what is
 * saved is always what was reviewed.
 */
import {
  ApiError,
  getKey,
  getKeyPolicy,
  type KeyPolicy,
  type KeyPolicyInput,
  type KeyRecord,
  type PolicyViolation,
  putKeyPolicy,
} from "./api";
import { byId, fieldError, h, show } from "./dom";
import { dayLabel, setKnownPolicy } from "./policy";
import { fullTime, timeEl } from "./time";

type Select = (key: KeyRecord, from: HTMLElement) => void;

const RULE_NAMES: Record<PolicyViolation["rule"], string> = {
  maxLifetimeDays: "Maximum lifetime",
  requireIpAllowlist: "IP allowlist",
  idleRevokeDays: "Idle",
};

/** Each rule as the review's summary counts it. */
const IN_SUMMARY: Record<PolicyViolation["rule"], string> = {
  maxLifetimeDays: "maximum lifetime",
  requireIpAllowlist: "no IP allowlist",
  idleRevokeDays: "idle",
};

let openKey: Select = () => {};
/** The policy in force, as last loaded or saved. */
let loaded: KeyPolicy | null = null;
/** What the review on screen was made for; null when none is shown. */
let reviewed: KeyPolicyInput | null = null;
/** Bumped by every load, review and sign-out: an answer for an older one is dropped. */
let seq = 0;

const field = <T extends HTMLElement = HTMLInputElement>(id: string) => byId<T>(id);

export function initPolicyPage(onSelectKey: Select): void {
  openKey = onSelectKey;
  byId("policy-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void review();
  });
  byId("policy-form").addEventListener("input", () => {
    syncEnabled();
    dropReview();
  });
  byId("policy-check-cancel").addEventListener("click", () => {
    dropReview();
    byId("policy-review").focus();
  });
  byId("policy-save").addEventListener("click", () => void save());
}

/** Loads the policy in force into the form (each time the page is shown: another admin may have changed it). */
export async function loadPolicyPage(): Promise<void> {
  const at = ++seq;
  const state = byId("policy-state");
  show(byId("policy-form"), false);
  dropReview();
  byId("policy-notice").textContent = "";
  state.textContent = "Loading the key policy…";
  try {
    const policy = await getKeyPolicy();
    if (at !== seq) return;
    state.textContent = "";
    showLoaded(policy);
    show(byId("policy-form"), true);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (at !== seq || error.status === 401) return;
    state.textContent = "";
    const retry = h("button", { type: "button", className: "quiet", text: "Try again" });
    retry.addEventListener("click", () => void loadPolicyPage());
    state.appendChild(h("p", { className: "error", text: `Couldn't load the key policy: ${error.message} ` }, retry));
  }
}

/** Sign-out: nothing of this workspace stays on the page. */
export function clearPolicyPage(): void {
  seq++;
  loaded = null;
  dropReview();
  show(byId("policy-form"), false);
  byId("policy-notice").textContent = "";
  byId("policy-state").textContent = "";
}

function showLoaded(policy: KeyPolicy): void {
  loaded = policy;
  setKnownPolicy(policy);
  setRule("lifetime", policy.maxLifetimeDays, 90);
  field("policy-allowlist-on").checked = policy.requireIpAllowlist;
  setRule("idle", policy.idleRevokeDays, 90);
  syncEnabled();
  for (const id of ["policy-lifetime-error", "policy-idle-error", "policy-error"]) fieldError(id, "");
  const saved = byId("policy-saved");
  saved.textContent = "";
  if (policy.updatedAt) {
    saved.appendChild(h("span", null, "Last saved ", timeEl(policy.updatedAt), policy.updatedBy ? ` by ${policy.updatedBy}.` : "."));
    if (policy.idleRevocationsFrom && Date.parse(policy.idleRevocationsFrom) > Date.now()) {
      const from = h("time", {
        datetime: policy.idleRevocationsFrom,
        title: fullTime(policy.idleRevocationsFrom),
        text: dayLabel(Date.parse(policy.idleRevocationsFrom)),
      });
      saved.appendChild(h("span", null, " The idle rule revokes no key before ", from, "."));
    }
  } else saved.textContent = "No policy has been set: every rule is off.";
}

function setRule(rule: "lifetime" | "idle", value: number | null, suggestion: number): void {
  field(`policy-${rule}-on`).checked = value !== null;
  field(`policy-${rule}-days`).value = String(value ?? suggestion);
}

/** A number field is used only while its rule is on. */
function syncEnabled(): void {
  for (const rule of ["lifetime", "idle"]) field(`policy-${rule}-days`).disabled = !field(`policy-${rule}-on`).checked;
}

/** The form as a policy, or null after showing what is wrong. */
function readForm(): KeyPolicyInput | null {
  const number = (rule: "lifetime" | "idle", min: number, max: number): number | null | undefined => {
    fieldError(`policy-${rule}-error`, "");
    const input = field(`policy-${rule}-days`);
    input.removeAttribute("aria-invalid");
    if (!field(`policy-${rule}-on`).checked) return null;
    const value = Number(input.value.trim());
    if (input.value.trim() && Number.isInteger(value) && value >= min && value <= max) return value;
    fieldError(`policy-${rule}-error`, `Enter a whole number of days from ${min} to ${max}.`);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return undefined;
  };
  const maxLifetimeDays = number("lifetime", Number(field("policy-lifetime-days").min), Number(field("policy-lifetime-days").max));
  if (maxLifetimeDays === undefined) return null;
  const idleRevokeDays = number("idle", Number(field("policy-idle-days").min), Number(field("policy-idle-days").max));
  if (idleRevokeDays === undefined) return null;
  return { maxLifetimeDays, requireIpAllowlist: field("policy-allowlist-on").checked, idleRevokeDays };
}

/** The API's field errors, at their fields (a policy the page let through but the API did not). */
function showErrors(error: ApiError): void {
  for (const e of error.errors) {
    const rule = e.path === "maxLifetimeDays" ? "lifetime" : e.path === "idleRevokeDays" ? "idle" : null;
    if (rule) fieldError(`policy-${rule}-error`, e.message);
  }
}

const same = (a: KeyPolicyInput, b: KeyPolicy | null) =>
  !!b && a.maxLifetimeDays === b.maxLifetimeDays && a.requireIpAllowlist === b.requireIpAllowlist && a.idleRevokeDays === b.idleRevokeDays;

/** The dry run: what the form's policy would find, shown before anything is saved. */
async function review(): Promise<void> {
  const input = readForm();
  if (!input) return;
  fieldError("policy-error", "");
  byId("policy-notice").textContent = "";
  const at = ++seq;
  const button = byId<HTMLButtonElement>("policy-review");
  button.disabled = true;
  button.textContent = "Checking keys…";
  try {
    const result = await putKeyPolicy(input, true);
    if (at !== seq) return;
    reviewed = input;
    renderCheck(result.violations, result.violationsTruncated, input);
    fieldError("policy-save-error", "");
    show(byId("policy-check"), true);
    show(byId("policy-check-actions"), true);
    byId("policy-check-title").focus();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (at === seq && error.status !== 401) {
      showErrors(error);
      fieldError("policy-error", `The keys could not be checked: ${error.message}`);
    }
  } finally {
    button.disabled = false;
    button.textContent = "Review changes…";
  }
}

async function save(): Promise<void> {
  const input = reviewed;
  if (!input) return;
  const at = ++seq;
  const button = byId<HTMLButtonElement>("policy-save");
  button.disabled = true;
  button.textContent = "Saving…";
  try {
    const result = await putKeyPolicy(input, false);
    if (at !== seq) return;
    showLoaded(result.policy);
    dropReview();
    const breaking = new Set(result.violations.map((v) => v.keyId)).size;
    byId("policy-notice").textContent = result.saved
      ? `Key policy saved.${breaking ? ` ${keysText(breaking)} ${breaking === 1 ? "does not comply; it keeps" : "do not comply; they keep"} working.` : " Every working key complies."}`
      : "Nothing to save: this is the policy in force.";
    byId("policy-title").focus();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (at === seq && error.status !== 401) {
      showErrors(error);
      fieldError("policy-save-error", `The policy was not saved: ${error.message}`);
    }
  } finally {
    button.disabled = false;
    button.textContent = "Save policy";
  }
}

function dropReview(): void {
  reviewed = null;
  show(byId("policy-check"), false);
  byId("violations-table").querySelector("tbody")!.textContent = "";
}

const keysText = (n: number) => `${n.toLocaleString("en-US")} working ${n === 1 ? "key" : "keys"}`;

function renderCheck(violations: PolicyViolation[], truncated: boolean, input: KeyPolicyInput): void {
  const body = byId("violations-table").querySelector("tbody")!;
  body.textContent = "";
  for (const v of violations) {
    const name = h("button", { type: "button", className: "link", text: v.name });
    name.addEventListener("click", () => void select(v.keyId, name));
    body.appendChild(
      h(
        "tr",
        { "data-rule": v.rule },
        h("td", { "data-label": "Key" }, name, " ", h("code", { text: `${v.prefix}…` })),
        h("td", { "data-label": "Rule", text: RULE_NAMES[v.rule] }),
        h("td", { "data-label": "Why", text: v.message }),
      ),
    );
  }
  show(byId("violations-table"), violations.length > 0);
  const count = (rule: PolicyViolation["rule"]) => violations.filter((v) => v.rule === rule).length;
  const keys = new Set(violations.map((v) => v.keyId)).size;
  const summary = byId("policy-check-summary");
  const parts: string[] = [];
  if (same(input, loaded)) parts.push("This is the policy in force: saving changes nothing.");
  if (keys === 0) parts.push("Every working key complies.");
  else {
    const byRule = (["maxLifetimeDays", "requireIpAllowlist", "idleRevokeDays"] as const)
      .filter((rule) => count(rule) > 0)
      .map((rule) => `${IN_SUMMARY[rule]}: ${count(rule)}`);
    parts.push(`${keysText(keys)} would not comply (${byRule.join(", ")}).`);
    parts.push("They keep working: the policy binds keys as they are created, rolled or edited.");
    if (count("idleRevokeDays"))
      parts.push(
        "Except idle keys: each is announced now and revoked 7 days later unless it is used before. Check that none of them is still needed.",
      );
  }
  summary.textContent = parts.join(" ");
  const more = byId("violations-truncated");
  more.textContent = truncated ? "More keys break a rule than are listed: the first 500 of each rule are shown." : "";
  show(more, truncated);
}

/** Opens a listed key's dialog, with its record as it is now. */
async function select(id: string, from: HTMLElement): Promise<void> {
  try {
    openKey(await getKey(id), from);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status !== 401) fieldError("policy-save-error", `Couldn't open the key: ${error.message}`);
  }
}
