import type { Env, WaitUntil } from "../env";
import type { Outcome, OutcomeCounts } from "./outcomes";

/**
 * One call presented with a known key, served or refused: what the request
 * log keeps of it, and whether it is a use (outcomes.ts, isUse). Made once per
 * call by requireKey, once its answer's status is known; it is the only object
 * the hot path allocates for the log.
 */
export interface KeyRequest {
  workspaceId: string;
  keyId: string;
  /** Epoch milliseconds: when the key was checked. */
  at: number;
  /** The caller's address (CF-Connecting-IP), when known. */
  ip: string | null;
  /** The caller's ISO 3166 country (request.cf.country), when known. */
  country: string | null;
  outcome: Outcome;
  method: string;
  /** The URL's path, without the query string, with anything shaped like a key redacted (request-path.ts). */
  path: string;
  /** The status of the answer. */
  status: number;
}

/** What an isolate knows of a key's calls that the recorder may not have yet. */
export interface UnsentUse {
  /** Latest use, and its caller; at is null when none of the calls was a use. */
  at: number | null;
  ip: string | null;
  country: string | null;
  /**
   * Uses per UTC day ("YYYY-MM-DD") not yet sent. Uses on their way (sent,
   * not acknowledged) are left out: the recorder may already count them.
   */
  days: Record<string, number>;
  /** Calls per UTC day per outcome not yet sent, on the same terms as `days`. */
  outcomes: Record<string, OutcomeCounts>;
  /** Latest call refused because the key was revoked; null if none. */
  afterRevokeAt: number | null;
}

/**
 * Where verification reports the calls made with keys. The app is given one:
 * production coalesces them in the isolate and sends them to a recorder shard
 * off the request's critical path; the bench's baseline writes D1 on every use.
 */
export interface UseReporter {
  /** Never throws and never delays the request beyond what the implementation states. */
  report(env: Env, ctx: WaitUntil, request: KeyRequest): void | Promise<void>;
  /** Calls of these keys (null: every key of the workspace) seen here and not yet acknowledged by the recorder. */
  unsent(workspaceId: string, keyIds: readonly string[] | null): Record<string, UnsentUse>;
}

/** The UTC day of an epoch-millisecond time, as "YYYY-MM-DD". */
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
