import type { Env, WaitUntil } from "../env";

/** One authenticated call with a key. */
export interface KeyUse {
  workspaceId: string;
  keyId: string;
  /** Epoch milliseconds. */
  at: number;
  /** The caller's address (CF-Connecting-IP), when known. */
  ip: string | null;
  /** The caller's ISO 3166 country (request.cf.country), when known. */
  country: string | null;
}

/** What an isolate knows of a key's uses that the recorder may not have yet. */
export interface UnsentUse {
  at: number;
  ip: string | null;
  country: string | null;
  /**
   * Uses per UTC day ("YYYY-MM-DD") not yet sent. Uses on their way (sent,
   * not acknowledged) are left out: the recorder may already count them.
   */
  days: Record<string, number>;
}

/**
 * Where verification reports key uses. The app is given one: production
 * coalesces uses in the isolate and sends them to a recorder shard off the
 * request's critical path; the bench's baseline writes D1 on every request.
 */
export interface UseReporter {
  /** Never throws and never delays the request beyond what the implementation states. */
  report(env: Env, ctx: WaitUntil, use: KeyUse): void | Promise<void>;
  /** Uses of these keys (null: every key of the workspace) seen here and not yet acknowledged by the recorder. */
  unsent(workspaceId: string, keyIds: readonly string[] | null): Record<string, UnsentUse>;
}

/** The UTC day of an epoch-millisecond time, as "YYYY-MM-DD". */
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
