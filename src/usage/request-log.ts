import type { Env, StoredCall } from "../env";
import type { Cursor } from "../http/cursor";
import { invalidRequest, unavailable } from "../http/problem";
import { errorMessage, log } from "../lib/log";
import { OUTCOMES, type Outcome } from "./outcomes";
import { askEveryShard } from "./recorder-protocol";
import { CALLS_MAX_AGE_MS } from "./request-log-store";

/** One entry of a key's request log, as the API answers it. */
export interface LoggedRequest {
  /** `req_` + the shard (2 hex digits) + its sequence number (12 hex digits): unique, and ordered as the log is. */
  id: string;
  at: string;
  method: string;
  path: string;
  status: number;
  outcome: Outcome;
  ip: string | null;
  country: string | null;
}

const ID = /^req_([0-9a-f]{2})([0-9a-f]{12})$/;
const requestId = (shard: number, seq: number) => `req_${shard.toString(16).padStart(2, "0")}${seq.toString(16).padStart(12, "0")}`;

/**
 * A page of a key's request log, newest first, with one entry more than
 * `limit` when there are more: every shard's page after the cursor, merged. Keyset on (at, id), where an id orders as (shard, sequence),
 * so a page boundary never skips or repeats an entry, whatever arrives
 * meanwhile. Every shard must answer (a missing shard would make the next
 * pages skip its entries): if one cannot, 503.
 */
export async function listRequests(
  env: Env,
  workspaceId: string,
  keyId: string,
  query: { limit: number; cursor: Cursor | null; outcome: Outcome | undefined },
): Promise<LoggedRequest[]> {
  let before: { at: number; shard: number; seq: number } | null = null;
  if (query.cursor) {
    const m = ID.exec(query.cursor.id);
    if (!m)
      throw invalidRequest("The cursor is not valid; pass nextCursor from a previous page.", [
        { path: "cursor", message: "Invalid cursor" },
      ]);
    before = { at: query.cursor.t, shard: Number.parseInt(m[1]!, 16), seq: Number.parseInt(m[2]!, 16) };
  }
  const outcome = query.outcome === undefined ? null : OUTCOMES.indexOf(query.outcome);
  const since = Date.now() - CALLS_MAX_AGE_MS;
  let failed = false;
  const pages = await askEveryShard(
    env,
    (s, n) => s.calls(n, workspaceId, keyId, { limit: query.limit + 1, before, outcome, since }),
    (error) => {
      failed = true;
      log("warn", "request_log_read_failed", { workspaceId, keyId, error: errorMessage(error) });
    },
  );
  if (failed) throw unavailable("The request log could not be read in full; try again.");
  const merged: [number, StoredCall][] = pages.flatMap(([shard, calls]) =>
    calls.map((c): [number, StoredCall] => [shard, c as StoredCall]),
  );
  merged.sort(([sa, a], [sb, b]) => b[1] - a[1] || sb - sa || b[0] - a[0]);
  return merged.slice(0, query.limit + 1).map(([shard, [seq, at, o, method, path, status, ip, country]]) => ({
    id: requestId(shard, seq),
    at: new Date(at).toISOString(),
    method,
    path,
    status,
    outcome: OUTCOMES[o] ?? "ok",
    ip,
    country,
  }));
}

/** Calls to one shard an erasure makes at most, each deleting up to MAX_ERASED_PER_CALL entries. */
const MAX_ERASE_CALLS_PER_SHARD = 20;

/**
 * Erases a workspace's request log on every shard: from the first call on, no
 * shard answers or accepts an entry of the workspace made before `before`,
 * and each shard is called until it has deleted them all. If a shard cannot
 * be reached, or has more than MAX_ERASE_CALLS_PER_SHARD calls' worth, 503:
 * calling again is safe, and finishes the deletion. Answers how many entries
 * were deleted.
 */
export async function eraseRequestLog(env: Env, workspaceId: string, before: number): Promise<number> {
  let failed = false;
  const erased = await askEveryShard(
    env,
    async (s) => {
      let deleted = 0;
      for (let call = 0; call < MAX_ERASE_CALLS_PER_SHARD; call++) {
        const step = await s.erase(workspaceId, before);
        deleted += step.deleted;
        if (step.done) return deleted;
      }
      throw new Error(`more than ${MAX_ERASE_CALLS_PER_SHARD} erase calls' worth of entries`);
    },
    (error) => {
      failed = true;
      log("error", "request_log_erase_failed", { workspaceId, error: errorMessage(error) });
    },
  );
  if (failed) throw unavailable("The request log could not be erased on every shard yet; call again to finish.");
  return erased.reduce((sum, [, n]) => sum + n, 0);
}
