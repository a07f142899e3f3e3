import { DurableObject } from "cloudflare:workers";
import type { DailyCount, Env, LastUsedRecorderRpc, RecordedUse, UseBatch } from "../env";
import { errorMessage, log } from "../lib/log";

type DailyRow = { key_id: string; day: string; requests: number };

import { utcDay } from "./use-reporter";

/**
 * Rows of each kind written to D1 by one flush; the rest wait for the next
 * one. They travel as one JSON parameter per statement (~150 bytes a row),
 * well inside D1's 2 MB per value.
 */
export const MAX_ROWS_PER_FLUSH = 5_000;
/** Daily counts older than this many days are deleted from D1 by flushes. */
const USAGE_RETENTION_DAYS = 90;
/** Old daily rows one flush deletes at most, so retention never makes a flush slow. */
export const MAX_EXPIRED_ROWS_PER_FLUSH = 500;
/** Batch ids remembered to refuse a resent batch; far longer than any resend. */
const SEEN_BATCH_MS = 86_400_000;

const DAY_MS = 86_400_000;

/**
 * One recorder shard (see RECORDER_SHARDS). Keeps, in its own SQLite storage
 * (so an eviction loses nothing), the latest use of each key it heard of with
 * the caller's address and country, and its running count of uses per key per
 * UTC day. From its alarm, at most once per LAST_USED_FLUSH_SECONDS, it writes
 * them to D1 in one batch: last-used times move forward only, and daily counts
 * are written as this shard's absolute totals, so a flush retried after a
 * failure never counts a use twice.
 */
export class LastUsedRecorder extends DurableObject<Env> implements LastUsedRecorderRpc {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS uses (
      key_id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, used_at INTEGER NOT NULL, ip TEXT, country TEXT)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS daily (
      key_id TEXT NOT NULL, day TEXT NOT NULL, workspace_id TEXT NOT NULL, requests INTEGER NOT NULL,
      flushed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (key_id, day))`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, at INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
  }

  /** Applies batches of uses sent to shard number `shard`; a batch id already applied is ignored. */
  async record(shard: number, batches: UseBatch[]): Promise<void> {
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      if (Number.isSafeInteger(shard)) this.#setMeta("shard", String(shard));
      for (const batch of batches) {
        if (this.#sql.exec(`SELECT 1 FROM batches WHERE id = ?`, batch.id).toArray().length > 0) continue;
        this.#sql.exec(`INSERT INTO batches (id, at) VALUES (?, ?)`, batch.id, now);
        // Two statements per batch, whatever its size: a message carries every
        // key an isolate served in a window, thousands at times.
        const uses: [string, string, number, string | null, string | null][] = [];
        const days: [string, string, string, number][] = [];
        for (const u of batch.uses) {
          if (!Number.isSafeInteger(u.at)) continue;
          uses.push([u.keyId, u.workspaceId, u.at, u.ip, u.country]);
          for (const [day, n] of Object.entries(u.days)) {
            if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || !Number.isSafeInteger(n) || n <= 0) continue;
            days.push([u.keyId, day, u.workspaceId, n]);
          }
        }
        if (uses.length > 0) {
          this.#sql.exec(
            `INSERT INTO uses (key_id, workspace_id, used_at, ip, country)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) WHERE true
             ON CONFLICT (key_id) DO UPDATE SET used_at = excluded.used_at, ip = excluded.ip, country = excluded.country
             WHERE excluded.used_at > uses.used_at`,
            JSON.stringify(uses),
          );
        }
        if (days.length > 0) {
          this.#sql.exec(
            `INSERT INTO daily (key_id, day, workspace_id, requests)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
             ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + excluded.requests`,
            JSON.stringify(days),
          );
        }
      }
      this.#sql.exec(`DELETE FROM batches WHERE at < ?`, now - SEEN_BATCH_MS);
    });
    if ((await this.ctx.storage.getAlarm()) === null) {
      const lastFlush = Number(this.#getMeta("last_flush") ?? 0);
      await this.ctx.storage.setAlarm(Math.max(now, lastFlush + (await this.#flushIntervalMs())));
    }
  }

  /** Latest uses this shard knows of, for keys of one workspace (key id → use). */
  async latest(workspaceId: string, keyIds: string[]): Promise<Record<string, RecordedUse>> {
    const out: Record<string, RecordedUse> = {};
    for (const keyId of keyIds) {
      const row = this.#sql
        .exec<{ used_at: number; ip: string | null; country: string | null }>(
          `SELECT used_at, ip, country FROM uses WHERE key_id = ? AND workspace_id = ?`,
          keyId,
          workspaceId,
        )
        .toArray()[0];
      if (row) out[keyId] = { at: row.used_at, ip: row.ip, country: row.country };
    }
    return out;
  }

  /** This shard's running daily totals since `fromDay`, for one key of the workspace or (null) all of them. */
  async dailyCounts(workspaceId: string, keyId: string | null, fromDay: string): Promise<DailyCount[]> {
    const rows =
      keyId === null
        ? this.#sql.exec<DailyRow>(`SELECT key_id, day, requests FROM daily WHERE workspace_id = ? AND day >= ?`, workspaceId, fromDay)
        : this.#sql.exec<DailyRow>(
            `SELECT key_id, day, requests FROM daily WHERE key_id = ? AND workspace_id = ? AND day >= ?`,
            keyId,
            workspaceId,
            fromDay,
          );
    return rows.toArray().map((r) => ({ keyId: r.key_id, day: r.day, requests: r.requests }));
  }

  override async alarm(): Promise<void> {
    await this.#flush();
  }

  async #flush(): Promise<void> {
    const uses = this.#sql
      .exec<{ key_id: string; workspace_id: string; used_at: number; ip: string | null; country: string | null }>(
        `SELECT key_id, workspace_id, used_at, ip, country FROM uses ORDER BY key_id LIMIT ?`,
        MAX_ROWS_PER_FLUSH,
      )
      .toArray();
    const daily = this.#sql
      .exec<{ key_id: string; day: string; workspace_id: string; requests: number }>(
        `SELECT key_id, day, workspace_id, requests FROM daily WHERE requests > flushed ORDER BY day, key_id LIMIT ?`,
        MAX_ROWS_PER_FLUSH,
      )
      .toArray();
    if (uses.length === 0 && daily.length === 0) return;

    const shard = this.#shard();
    const now = Date.now();
    const db = this.env.DB;
    // Three statements per flush, whatever the number of rows (a batch of one
    // statement per row would run into D1's limit of queries per invocation).
    // The rows travel as one JSON parameter each, read back with json_each.
    const statements = () => [
      db
        .prepare(
          // Forward only: an older report never overwrites a newer one. The
          // workspace condition keeps a shard from touching any other
          // workspace's key, whatever it was told.
          `UPDATE api_keys SET last_used_at = u.at, last_used_ip = u.ip, last_used_country = u.country
           FROM (SELECT value ->> 0 AS id, value ->> 1 AS ws, value ->> 2 AS at, value ->> 3 AS ip, value ->> 4 AS country
                 FROM json_each(?1)) AS u
           WHERE api_keys.id = u.id AND api_keys.workspace_id = u.ws
             AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < u.at)`,
        )
        .bind(JSON.stringify(uses.map((u) => [u.key_id, u.workspace_id, u.used_at, u.ip, u.country]))),
      db
        .prepare(
          // This shard's absolute total: writing it twice is writing it once.
          `INSERT INTO key_usage_daily (key_id, day, shard, workspace_id, requests)
           SELECT value ->> 0, value ->> 1, ?2, value ->> 2, value ->> 3 FROM json_each(?1) WHERE true
           ON CONFLICT (key_id, day, shard) DO UPDATE SET requests = max(requests, excluded.requests)`,
        )
        .bind(JSON.stringify(daily.map((d) => [d.key_id, d.day, d.workspace_id, d.requests])), shard),
      db
        .prepare(`DELETE FROM key_usage_daily WHERE rowid IN (SELECT rowid FROM key_usage_daily WHERE day < ?1 LIMIT ?2)`)
        .bind(utcDay(now - USAGE_RETENTION_DAYS * DAY_MS), MAX_EXPIRED_ROWS_PER_FLUSH),
    ];
    this.#setMeta("last_flush", String(now));
    try {
      await db.batch(statements());
    } catch (error) {
      // Keep every row and try again one interval later.
      log("error", "last_used_flush_failed", { shard, keys: uses.length, days: daily.length, error: errorMessage(error) });
      await this.ctx.storage.setAlarm(now + Math.max(await this.#flushIntervalMs(), 1_000));
      return;
    }
    this.ctx.storage.transactionSync(() => {
      // A use that arrived during the batch is newer than what was written: keep it.
      this.#sql.exec(
        `DELETE FROM uses WHERE rowid IN (
           SELECT uses.rowid FROM json_each(?) AS w JOIN uses ON uses.key_id = w.value ->> 0 AND uses.used_at <= w.value ->> 1)`,
        JSON.stringify(uses.map((u) => [u.key_id, u.used_at])),
      );
      this.#sql.exec(
        `UPDATE daily SET flushed = w.requests
         FROM (SELECT value ->> 0 AS key_id, value ->> 1 AS day, value ->> 2 AS requests FROM json_each(?)) AS w
         WHERE daily.key_id = w.key_id AND daily.day = w.day`,
        JSON.stringify(daily.map((d) => [d.key_id, d.day, d.requests])),
      );
      // Past days that are fully written are D1's alone now. Yesterday stays a
      // day longer, for isolates that report a use just after midnight.
      this.#sql.exec(`DELETE FROM daily WHERE requests = flushed AND day < ?`, utcDay(now - DAY_MS));
    });
    const left =
      this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM uses`).one().n +
      this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM daily WHERE requests > flushed`).one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + (await this.#flushIntervalMs()));
  }

  /** This shard's number, for the daily rows it writes. */
  #shard(): number {
    return Number(this.#getMeta("shard") ?? -1);
  }

  async #flushIntervalMs(): Promise<number> {
    // Loaded when first needed: the worker's start-up (which exports this class) stays free of the schema library.
    const { readOptions } = await import("../options");
    return readOptions(this.env).lastUsedFlushSeconds * 1000;
  }

  #getMeta(name: string): string | null {
    const row = this.#sql.exec<{ value: string }>(`SELECT value FROM meta WHERE name = ?`, name).toArray()[0];
    return row?.value ?? null;
  }

  #setMeta(name: string, value: string): void {
    this.#sql.exec(`INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)`, name, value);
  }
}
