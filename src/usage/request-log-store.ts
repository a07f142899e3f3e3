import type { CallQuery, StoredCall } from "../env";

/** Entries kept per key per shard, served and refused apart: at least the newest this many of each. */
export const CALLS_KEPT = 1_000;
/**
 * How far past CALLS_KEPT a key's class may grow before it is trimmed back
 * to CALLS_KEPT: one delete per TRIM_SLACK entries of a key instead of one
 * per message (a message often brings a key one or two calls). A key and
 * class holds at most CALLS_KEPT + TRIM_SLACK entries on a shard.
 */
export const TRIM_SLACK = 100;
/** Entries older than this are never answered, and are deleted by the writes that follow. */
export const CALLS_MAX_AGE_MS = 30 * 86_400_000;
/** Entries one batch may add; the rest are dropped and counted (an isolate sends at most this many). */
export const MAX_CALLS_PER_BATCH = 5_000;
/**
 * Entries a shard stores per transaction. A batch of thousands is stored a
 * chunk at a time, other work let in between: the shard is one thread, and
 * its other messages and the request log's readers need not wait for one
 * long write (nor, under `wrangler dev`, the requests that share its thread).
 * Indexing an entry costs ~10 µs once a shard holds a few hundred thousand
 * (measured locally), so a chunk holds the thread for a few milliseconds.
 */
export const CALLS_PER_WRITE = 100;
/**
 * Entries a shard accepts per second, on average (a token bucket holding one
 * second's worth): what keeps a shard's writes inside its budget whatever
 * arrives. Past it, entries are dropped and counted; nothing waits.
 */
export const CALLS_PER_SECOND = 10_000;
/**
 * Entries a shard stores at most (~190 bytes each with the index: ~4 GB of a
 * Durable Object's 10 GB). A write that would pass it evicts the shard's
 * oldest entries, whatever their key, as many as it adds (counted): the log
 * stays current and its retention shortens (docs/capacity.md).
 */
export const MAX_CALL_ROWS = 20_000_000;
/** Expired entries a write deletes at least (and at least twice what it adds), so retention never falls behind the writes. */
const MIN_EXPIRED_PER_WRITE = 500;
/**
 * How long an erasure is remembered: entries made before it are refused if
 * they arrive late and never answered if the chunked deletion has not reached
 * them yet. Past CALLS_MAX_AGE_MS every such entry has expired anyway.
 */
const ERASED_MEMORY_MS = CALLS_MAX_AGE_MS;
/** Entries one erase call deletes at most (a call's time stays bounded; the caller calls again until done). */
export const MAX_ERASED_PER_CALL = 100_000;

/** One entry to add: key, workspace, time, outcome index, refused (0 or 1), method, path, status, ip, country. */
export type NewCall = [string, string, number, number, 0 | 1, string, string, number, string | null, string | null];

/** Why entries were dropped instead of stored. */
export interface Dropped {
  /** Over the batch's allowance (MAX_CALLS_PER_BATCH). */
  batch: number;
  /** Over the shard's rate (CALLS_PER_SECOND). */
  rate: number;
  /** Older entries of any key evicted because the shard was full (MAX_CALL_ROWS). */
  evicted: number;
  /** Of a workspace erased since they were made. */
  erased: number;
}

/**
 * A recorder shard's part of the request log: the calls it heard of, in its
 * own SQLite storage. Retention is part of every write, in the same
 * transaction: per key and class (served, refused) the newest CALLS_KEPT
 * entries stay (a class past CALLS_KEPT + TRIM_SLACK is trimmed back to
 * CALLS_KEPT), and each write deletes expired entries (older than
 * CALLS_MAX_AGE_MS) at least twice as fast as it adds new ones. A per-key
 * counter per class (call_counts) makes the trim a bounded delete of the
 * oldest rows instead of a count.
 *
 * Entry ids are the shard's number and a sequence that never repeats
 * (AUTOINCREMENT); pages are keyset on (at, shard, seq), newest first.
 */
export class RequestLogStore {
  readonly #sql: SqlStorage;
  readonly #maxRows: number;
  #tokens = CALLS_PER_SECOND;
  #tokensAt = 0;
  /** Rows stored (the sum of call_counts), read once when first needed. */
  #rows: number | null = null;
  /** Erased workspaces and the time before which their entries are refused. */
  #erased: Map<string, number> | null = null;

  /** `maxRows` is MAX_CALL_ROWS but in tests of a full shard. */
  constructor(sql: SqlStorage, { maxRows = MAX_CALL_ROWS }: { maxRows?: number } = {}) {
    this.#sql = sql;
    this.#maxRows = maxRows;
    sql.exec(`CREATE TABLE IF NOT EXISTS calls (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, workspace_id TEXT NOT NULL, at INTEGER NOT NULL,
      outcome INTEGER NOT NULL, refused INTEGER NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,
      ip TEXT, country TEXT)`);
    // A key's entries of one class in time order: pages newest first, trims oldest first.
    sql.exec(`CREATE INDEX IF NOT EXISTS calls_by_key ON calls (key_id, refused, at, seq)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS call_counts (
      key_id TEXT NOT NULL, refused INTEGER NOT NULL, workspace_id TEXT NOT NULL, n INTEGER NOT NULL,
      PRIMARY KEY (key_id, refused)) WITHOUT ROWID`);
    sql.exec(`CREATE TABLE IF NOT EXISTS erased (workspace_id TEXT PRIMARY KEY, before INTEGER NOT NULL)`);
  }

  /**
   * Decides which of a batch's entries are stored, refused ones first when
   * not all fit (the batch's allowance, the shard's rate), and counts the
   * rest; stores nothing. The accepted come back oldest first, so that stored
   * in chunks, within a millisecond the sequence still follows the calls.
   */
  admit(calls: NewCall[], now: number): { accepted: NewCall[]; dropped: Dropped } {
    const dropped: Dropped = { batch: 0, rate: 0, evicted: 0, erased: 0 };
    const erased = this.#erasedMap(now);
    let fresh = calls.filter((c) => c[2] >= now - CALLS_MAX_AGE_MS);
    if (erased.size > 0) {
      const before = fresh.length;
      fresh = fresh.filter((c) => c[2] >= (erased.get(c[1]) ?? 0));
      dropped.erased = before - fresh.length;
    }
    // Refused entries first: the rarer and more telling, they are the last to go.
    fresh.sort((a, b) => b[4] - a[4]);
    let take = fresh.length;
    if (take > MAX_CALLS_PER_BATCH) {
      dropped.batch = take - MAX_CALLS_PER_BATCH;
      take = MAX_CALLS_PER_BATCH;
    }
    this.#tokens = Math.min(CALLS_PER_SECOND, this.#tokens + (Math.max(0, now - this.#tokensAt) * CALLS_PER_SECOND) / 1000);
    this.#tokensAt = now;
    if (take > this.#tokens) {
      dropped.rate = take - Math.floor(this.#tokens);
      take = Math.floor(this.#tokens);
    }
    const accepted = take < fresh.length ? fresh.slice(0, take) : fresh;
    this.#tokens -= accepted.length;
    accepted.sort((a, b) => a[2] - b[2]);
    return { accepted, dropped };
  }

  /**
   * Stores admitted entries (inside the caller's transaction): drops those of
   * a workspace erased since they were admitted, expires, evicts when full,
   * inserts, trims. Answers what it evicted and dropped.
   */
  store(calls: NewCall[], now: number): Pick<Dropped, "evicted" | "erased"> {
    const erased = this.#erasedMap(now);
    const kept = erased.size > 0 ? calls.filter((c) => c[2] >= (erased.get(c[1]) ?? 0)) : calls;
    const out = { evicted: 0, erased: calls.length - kept.length };
    this.expire(now, Math.max(MIN_EXPIRED_PER_WRITE, 2 * kept.length));
    const over = this.#rowCount() + kept.length - this.#maxRows;
    if (over > 0) out.evicted = this.#deleteOldest(Math.min(over, kept.length), null);
    if (kept.length > 0) this.#insert(kept);
    return out;
  }

  #insert(calls: NewCall[]): void {
    const rows = this.#rowCount();
    this.#sql.exec(
      `INSERT INTO calls (key_id, workspace_id, at, outcome, refused, method, path, status, ip, country)
       SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9
       FROM json_each(?)`,
      JSON.stringify(calls),
    );
    const added = new Map<string, [string, number, string, number]>();
    for (const c of calls) {
      const k = `${c[4]}${c[0]}`;
      const row = added.get(k);
      if (row) row[3]++;
      else added.set(k, [c[0], c[4], c[1], 1]);
    }
    this.#rows = rows + calls.length;
    const over = this.#sql
      .exec<{ key_id: string; refused: number; n: number }>(
        `INSERT INTO call_counts (key_id, refused, workspace_id, n)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
         ON CONFLICT (key_id, refused) DO UPDATE SET n = n + excluded.n
         RETURNING key_id, refused, n`,
        JSON.stringify([...added.values()]),
      )
      .toArray()
      .filter((r) => r.n > CALLS_KEPT + TRIM_SLACK);
    // One bounded delete per key and class over its limit: its oldest entries, by the index.
    for (const r of over) {
      this.#sql.exec(
        `DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE key_id = ? AND refused = ? ORDER BY at, seq LIMIT ?)`,
        r.key_id,
        r.refused,
        r.n - CALLS_KEPT,
      );
      this.#rows -= r.n - CALLS_KEPT;
    }
    if (over.length > 0) {
      this.#sql.exec(
        `UPDATE call_counts SET n = ?2 WHERE (key_id, refused) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))`,
        JSON.stringify(over.map((r) => [r.key_id, r.refused])),
        CALLS_KEPT,
      );
    }
  }

  /**
   * Deletes up to `limit` entries older than CALLS_MAX_AGE_MS, oldest first
   * (the lowest sequence numbers: entries arrive within seconds of being
   * made, and trims delete the oldest), and answers how many it deleted.
   */
  expire(now: number, limit: number): number {
    // Most writes find nothing to expire: the oldest entry says so without a scan of `limit` rows.
    const oldest = this.#sql.exec<{ at: number }>(`SELECT at FROM calls ORDER BY seq LIMIT 1`).toArray()[0];
    if (!oldest || oldest.at >= now - CALLS_MAX_AGE_MS) return 0;
    return this.#deleteOldest(limit, now - CALLS_MAX_AGE_MS);
  }

  /** Deletes up to `limit` of the shard's oldest entries (only those made before `before`, if given), keeping the counters exact. */
  #deleteOldest(limit: number, before: number | null): number {
    this.#rowCount();
    const gone = this.#sql
      .exec<{ key_id: string; refused: number }>(
        `DELETE FROM calls WHERE seq IN (SELECT seq FROM calls ORDER BY seq LIMIT ?) AND at < ? RETURNING key_id, refused`,
        limit,
        before ?? Number.MAX_SAFE_INTEGER,
      )
      .toArray();
    if (gone.length === 0) return 0;
    const perKey = new Map<string, [string, number, number]>();
    for (const g of gone) {
      const k = `${g.refused}${g.key_id}`;
      const row = perKey.get(k);
      if (row) row[2]++;
      else perKey.set(k, [g.key_id, g.refused, 1]);
    }
    this.#sql.exec(
      `UPDATE call_counts SET n = n - (w.value ->> 2) FROM json_each(?) AS w
       WHERE call_counts.key_id = (w.value ->> 0) AND call_counts.refused = (w.value ->> 1)`,
      JSON.stringify([...perKey.values()]),
    );
    this.#sql.exec(`DELETE FROM call_counts WHERE n <= 0`);
    this.#rows! -= gone.length;
    return gone.length;
  }

  /** When the oldest entry expires (null when there is none): the shard's alarm comes by then. */
  nextExpiry(): number | null {
    const row = this.#sql.exec<{ at: number }>(`SELECT at FROM calls ORDER BY seq LIMIT 1`).toArray()[0];
    return row ? row.at + CALLS_MAX_AGE_MS : null;
  }

  /** A page of one key's entries, newest first, as shard number `shard` holds them. */
  list(shard: number, workspaceId: string, keyId: string, query: CallQuery): StoredCall[] {
    // An erased workspace's older entries are gone for readers, even before the deletion has reached them all.
    const since = Math.max(query.since, this.#erasedMap(Date.now()).get(workspaceId) ?? 0);
    const classes = query.outcome === null ? [0, 1] : [query.outcome === 0 ? 0 : 1];
    const conditions = ["key_id = ?1", "refused = ?2", "workspace_id = ?3", "at >= ?4"];
    const params: (string | number)[] = [keyId, 0, workspaceId, since, query.limit];
    if (query.outcome !== null) {
      params.push(query.outcome);
      conditions.push(`outcome = ?${params.length}`);
    }
    const before = query.before;
    if (before) {
      params.push(before.at);
      const t = `?${params.length}`;
      if (shard < before.shard) conditions.push(`at <= ${t}`);
      else if (shard > before.shard) conditions.push(`at < ${t}`);
      else {
        params.push(before.seq);
        conditions.push(`(at < ${t} OR (at = ${t} AND seq < ?${params.length}))`);
      }
    }
    const out: StoredCall[] = [];
    for (const refused of classes) {
      params[1] = refused;
      const rows = this.#sql.exec<{
        seq: number;
        at: number;
        outcome: number;
        method: string;
        path: string;
        status: number;
        ip: string | null;
        country: string | null;
      }>(
        `SELECT seq, at, outcome, method, path, status, ip, country FROM calls WHERE ${conditions.join(" AND ")}
         ORDER BY at DESC, seq DESC LIMIT ?5`,
        ...params,
      );
      for (const r of rows) out.push([r.seq, r.at, r.outcome, r.method, r.path, r.status, r.ip, r.country]);
    }
    out.sort((a, b) => b[1] - a[1] || b[0] - a[0]);
    return out.slice(0, query.limit);
  }

  /**
   * Erases the workspace's entries made before `before` (inside the caller's
   * transaction): from now on none is answered or accepted, and up to `limit`
   * of them are deleted; answers how many were, and whether none is left.
   */
  erase(workspaceId: string, before: number, now: number, limit = MAX_ERASED_PER_CALL): { deleted: number; done: boolean } {
    this.#rowCount();
    this.#sql.exec(`DELETE FROM erased WHERE before < ?`, now - ERASED_MEMORY_MS);
    this.#sql.exec(
      `INSERT INTO erased (workspace_id, before) VALUES (?, ?) ON CONFLICT (workspace_id) DO UPDATE SET before = max(before, excluded.before)`,
      workspaceId,
      before,
    );
    this.#erased = null;
    const keys = this.#sql
      .exec<{ key_id: string; refused: number }>(`SELECT key_id, refused FROM call_counts WHERE workspace_id = ?`, workspaceId)
      .toArray();
    let deleted = 0;
    for (const k of keys) {
      if (deleted === limit) return { deleted, done: false };
      const gone = this.#sql
        .exec(
          `DELETE FROM calls WHERE seq IN (
             SELECT seq FROM calls WHERE key_id = ? AND refused = ? AND workspace_id = ? AND at < ? LIMIT ?)
           RETURNING seq`,
          k.key_id,
          k.refused,
          workspaceId,
          before,
          limit - deleted,
        )
        .toArray().length;
      if (gone === 0) continue;
      deleted += gone;
      this.#rows! -= gone;
      this.#sql.exec(`UPDATE call_counts SET n = n - ? WHERE key_id = ? AND refused = ?`, gone, k.key_id, k.refused);
    }
    this.#sql.exec(`DELETE FROM call_counts WHERE n <= 0`);
    return { deleted, done: deleted < limit };
  }

  /** Forgets what it holds in memory (after a transaction that rolled back): it is read again from storage. */
  forgetCache(): void {
    this.#rows = null;
    this.#erased = null;
  }

  #rowCount(): number {
    this.#rows ??= this.#sql.exec<{ n: number | null }>(`SELECT sum(n) AS n FROM call_counts`).one().n ?? 0;
    return this.#rows;
  }

  #erasedMap(now: number): Map<string, number> {
    if (this.#erased === null) {
      const rows = this.#sql.exec<{ workspace_id: string; before: number }>(`SELECT workspace_id, before FROM erased`).toArray();
      this.#erased = new Map(rows.filter((r) => r.before >= now - ERASED_MEMORY_MS).map((r) => [r.workspace_id, r.before]));
    }
    return this.#erased;
  }
}
