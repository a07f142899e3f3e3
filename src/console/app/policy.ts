/**
 * The workspace's key policy as the console knows it: loaded at sign-in, and
 * again when a dialog that makes or changes a key opens (another admin may
 * have changed it); replaced when the Policy page saves. The dialogs say
 * what it requires and cap what they offer; the API is what enforces it.
 */
import { ApiError, getKeyPolicy, type KeyPolicy } from "./api";

const DAY_MS = 86_400_000;
/** Taken off the latest expiry the console sends: the request reaches the service a moment after the page computed it. */
const SLACK_MS = 60_000;

let current: KeyPolicy | null = null;
let generation = 0;

/** The policy last loaded, or null before the first load answered (the dialogs then say nothing). */
export function knownPolicy(): KeyPolicy | null {
  return current;
}

/** Loads the policy; on failure keeps what was known (the API still enforces it). */
export async function refreshPolicy(): Promise<KeyPolicy | null> {
  const at = generation;
  try {
    const policy = await getKeyPolicy();
    if (at === generation) current = policy;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
  }
  return current;
}

/** What the Policy page saved. */
export function setKnownPolicy(policy: KeyPolicy): void {
  generation++;
  current = policy;
}

/** Sign-out: the next session may be another workspace's. */
export function forgetPolicy(): void {
  generation++;
  current = null;
}

/** The latest expiry a key made now may have under `policy` (a little before it, for the trip to the service); null: no cap. */
export function latestExpiry(policy: KeyPolicy | null, now = Date.now()): number | null {
  if (!policy?.maxLifetimeDays) return null;
  return now + policy.maxLifetimeDays * DAY_MS - SLACK_MS;
}

/** "24 Feb 2027", in the browser's time zone. */
export function dayLabel(ms: number): string {
  return new Date(ms).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
}

/** "2027-02-24": the local date, as a date input's value. */
export function dateValue(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export const days = (n: number) => `${n} ${n === 1 ? "day" : "days"}`;
