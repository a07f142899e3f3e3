import { errorMessage, log } from "../../lib/log";
import { raceTimeout, TIMED_OUT } from "../../lib/race-timeout";
import { GUARD_RAIL_FIELDS } from "../guard-rails";
import type { Scope } from "../scopes";
import type { VerifiedKey } from "./verified-key";

/**
 * The change feed: the recent part of the change log, as the isolates follow
 * it. It is how every isolate learns, within seconds and without waiting on
 * KV's propagation, which keys changed and what they are now.
 *
 * A snapshot names every key with a change committed in the last WINDOW_MS,
 * or delivered to KV in the last WINDOW_MS, or not delivered to KV yet, with
 * the key's state now (its row, as D1 holds it when the snapshot is read);
 * a key's creation is not such a change (see readFromD1).
 * Whatever is not in it is either unchanged for a while or in KV everywhere:
 * a change leaves the feed only once KV has held it for WINDOW_MS, longer
 * than KV takes to reach every location (up to 60 s) plus the edge cache of
 * a KV read (30 s). So an isolate holding a fresh snapshot may trust its memo
 * and the KV copies it reads for every key the snapshot does not name; and
 * two snapshots read at most COVERAGE_MS apart miss no change between them
 * (what is left of the window covers a batch that commits late).
 *
 * The isolates of a location share one snapshot through the Cache API
 * (`refreshAfterMs` old at most), so D1 sees about one read per location per
 * second, however many isolates there are. (On *.workers.dev the Cache API
 * stores nothing: each isolate then reads D1 itself, once a second while it
 * serves keys. Deploy on a custom domain.) Reading it never sits on the path
 * of a busy isolate's requests: see CachedKeyStore.
 *
 * This module is on the start-up path (verification at the edge): plain
 * D1 statements, no query builder, no schema library.
 */

/** How long a change stays in the feed after it was committed, and after KV took it. */
export const WINDOW_MS = 180_000;
/** Longest a KV write takes to be seen everywhere: its propagation (60 s) plus a read's edge cache (30 s). */
const KV_SETTLE_MS = 90_000;
/**
 * Two snapshots read at most this far apart leave no change unseen between
 * them; an isolate whose snapshots are further apart (it was idle, or the
 * feed unreadable) reads again whatever it held.
 */
export const COVERAGE_MS = WINDOW_MS - KV_SETTLE_MS;
/** A location's snapshot younger than this is used as it is; older, D1 is asked. */
export const REFRESH_AFTER_MS = 1_000;
/**
 * Keys one snapshot names at most, the most recently changed; past that it
 * says it is truncated, and an isolate reads again from KV whatever it holds
 * that the snapshot does not name.
 */
export const MAX_KEYS = 2_000;
/** Longest wait for the location's copy or for D1 before the read counts as failed. */
const READ_TIMEOUT_MS = 2_000;

export interface FeedSnapshot {
  /** When D1 was asked (before the query ran): every change committed before then that is in the window is here. */
  readAt: number;
  /** The keys the window names, by hash, with their state now. */
  keys: Map<string, VerifiedKey>;
  /** More keys changed than a snapshot names. */
  truncated: boolean;
}

export interface ChangeFeedOptions {
  /** The cache the isolates of a location share; production: the Cache API's default cache. */
  cache?: () => Promise<Cache>;
  refreshAfterMs?: number;
}

/** A snapshot as stored in the location's cache. */
interface Stored {
  readAt: number;
  truncated: boolean;
  keys: [string, VerifiedKey][];
}

const FEED_PATH = "/__owlish/change-feed";

/**
 * The change log's recent part for one isolate: reads it from the location's
 * cache, or from D1 when that copy is too old, one read at a time.
 */
export class ChangeFeed {
  readonly #cache: () => Promise<Cache>;
  readonly #refreshAfterMs: number;
  #pending: Promise<FeedSnapshot> | null = null;

  constructor(options: ChangeFeedOptions = {}) {
    this.#cache = options.cache ?? (async () => caches.default);
    this.#refreshAfterMs = options.refreshAfterMs ?? REFRESH_AFTER_MS;
  }

  get refreshAfterMs(): number {
    return this.#refreshAfterMs;
  }

  /**
   * The latest snapshot the location has, at most refreshAfterMs old (one
   * read at a time, shared); with `fresh`, read from D1 now, for an isolate
   * that just changed a key (its location's copy is then replaced, so the
   * location's other isolates see the change at their next read). Throws when
   * neither the cache nor D1 can give one.
   */
  read(
    db: D1Database,
    origin: string,
    { fresh = false, acceptAgeMs }: { fresh?: boolean; acceptAgeMs?: number } = {},
  ): Promise<FeedSnapshot> {
    if (fresh) return withTimeout(this.#read(db, origin, 0));
    this.#pending ??= withTimeout(this.#read(db, origin, acceptAgeMs ?? this.#refreshAfterMs)).finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  /** The location's copy if it is younger than `acceptAgeMs`, else D1's answer (then shared with the location). */
  async #read(db: D1Database, origin: string, acceptAgeMs: number): Promise<FeedSnapshot> {
    const url = origin + FEED_PATH;
    const cache = await this.#cache().catch(() => null);
    const shared = acceptAgeMs > 0 ? await cache?.match(url).catch(() => undefined) : undefined;
    if (shared) {
      const stored = await shared.json<Stored>().catch(() => null);
      // Judged by this reader's clock; a copy from more than a second "ahead" is not trusted to be fresh.
      const age = stored ? Date.now() - stored.readAt : Number.POSITIVE_INFINITY;
      if (stored && age > -1_000 && age < acceptAgeMs) return fromStored(stored);
    }
    const snapshot = await readFromD1(db);
    // The cache only shares it; freshness is judged from readAt, by each reader's clock.
    const body: Stored = { readAt: snapshot.readAt, truncated: snapshot.truncated, keys: [...snapshot.keys] };
    await cache
      ?.put(url, new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json", "Cache-Control": "max-age=60" } }))
      .catch((error: unknown) => log("warn", "change_feed_cache_put_failed", { error: errorMessage(error) }));
    return snapshot;
  }
}

async function withTimeout(read: Promise<FeedSnapshot>): Promise<FeedSnapshot> {
  const snapshot = await raceTimeout(read, READ_TIMEOUT_MS);
  if (snapshot === TIMED_OUT) throw new Error(`change feed read timed out after ${READ_TIMEOUT_MS} ms`);
  return snapshot;
}

const fromStored = (stored: Stored): FeedSnapshot => ({ readAt: stored.readAt, truncated: stored.truncated, keys: new Map(stored.keys) });

async function readFromD1(db: D1Database): Promise<FeedSnapshot> {
  const readAt = Date.now();
  const since = readAt - WINDOW_MS;
  // Newest change first: past MAX_KEYS the keys changed longest ago are the
  // ones left out, so a change just made is named even during a mass
  // revocation (the older ones have had longest to reach KV). A key's
  // creation is left out: no cache can hold an older state of a key that did
  // not exist (a lookup that finds no KV copy reads D1; no one presented its
  // random secret before it was made, so no isolate holds it as unknown), and a script
  // creating thousands of keys would otherwise truncate the feed, making
  // every isolate read again, for minutes, every key it holds.
  const { results } = await db
    .prepare(
      `SELECT k.* FROM api_keys k JOIN (
         SELECT key_id, MAX(at) AS changed FROM (
           SELECT key_id, at FROM key_changes WHERE at > ?1 AND kind <> 'created'
           UNION ALL SELECT key_id, at FROM key_changes WHERE kv_delivered_at > ?1 AND kind <> 'created'
           UNION ALL SELECT key_id, at FROM key_changes WHERE kv_delivered_at IS NULL AND kind <> 'created')
         GROUP BY key_id ORDER BY changed DESC LIMIT ?2) c ON c.key_id = k.id
       ORDER BY c.changed DESC`,
    )
    .bind(since, MAX_KEYS + 1)
    .all<Record<string, unknown>>();
  const keys = new Map<string, VerifiedKey>();
  for (const row of results.slice(0, MAX_KEYS)) keys.set(row.key_hash as string, verifiedKeyOfRow(row));
  return { readAt, keys, truncated: results.length > MAX_KEYS };
}

/**
 * A raw api_keys row as a VerifiedKey, as keys/records.ts toVerifiedKey makes
 * one from the query builder's row (test/keys/verify/verified-key.test.ts holds the
 * two to the same answer). Guard rails are stored as JSON under their field's
 * name in snake case.
 */
export function verifiedKeyOfRow(row: Record<string, unknown>): VerifiedKey {
  const key: Record<string, unknown> = {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes as string) as Scope[],
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    version: row.version,
    budgetId: row.budget_id ?? row.id,
  };
  for (const field of GUARD_RAIL_FIELDS) {
    const stored = row[field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
    key[field] = stored === null || stored === undefined ? null : JSON.parse(stored as string);
  }
  return key as VerifiedKey;
}
