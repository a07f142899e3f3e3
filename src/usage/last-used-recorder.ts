import { DurableObject } from "cloudflare:workers";
import type { CallQuery, DailyCount, Env, LastUsedRecorderRpc, RecordedUse, StoredCall, UseBatch, UseEntry } from "../env";
import { newId } from "../lib/ids";
import { errorMessage, log } from "../lib/log";
import { OUTCOMES } from "./outcomes";
import { CALLS_PER_WRITE, type NewCall, RequestLogStore } from "./request-log-store";
import { utcDay } from "./use-reporter";

/** The daily table's count columns: uses, then calls per outcome (OUTCOMES order). */
const COUNT_COLUMNS = ["requests", ...OUTCOMES] as const;
type DailyRow = { key_id: string; day: string; workspace_id: string } & Record<(typeof COUNT_COLUMNS)[number], number>;
/** Every count of a daily row: it only grows, so a row is flushed when its tally is past what was flushed. */
const TALLY = COUNT_COLUMNS.join(" + ");
/** Expired request log entries an alarm deletes at most (a write deletes its own share: request-log-store.ts). */
const MAX_EXPIRED_PER_ALARM = 5_000;
/** Two used-after-revoke signals of one key are at least this far apart. */
const SIGNAL_SPACING_MS = 3_600_000;
/** Flushed used-after-revoke signals are remembered this long (past SIGNAL_SPACING_MS), so that a shard raises one once per key per hour. */
const SIGNAL_MEMORY_MS = 2 * 3_600_000;

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

const isDay = (day: string) => /^\d{4}-\d{2}-\d{2}$/.test(day);
const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** A call of the request log as an isolate sent it, checked, or null if it is not one. */
function newCall(keyId: string, workspaceId: string, c: unknown): NewCall | null {
  if (!Array.isArray(c)) return null;
  const [at, outcome, method, path, status, ip, country] = c as unknown[];
  if (!Number.isSafeInteger(at) || !Number.isInteger(outcome) || (outcome as number) < 0 || (outcome as number) >= OUTCOMES.length)
    return null;
  if (typeof method !== "string" || typeof path !== "string" || !Number.isInteger(status)) return null;
  const text = (v: unknown, max: number) => (typeof v === "string" ? v.slice(0, max) : null);
  return [
    keyId,
    workspaceId,
    at as number,
    outcome as number,
    outcome === 0 ? 0 : 1,
    method.slice(0, 16),
    path.slice(0, 300),
    status as number,
    text(ip, 64),
    text(country, 2),
  ];
}

/**
 * One recorder shard (see RECORDER_SHARDS). Keeps, in its own SQLite storage
 * (so an eviction loses nothing), the latest use of each key it heard of with
 * the caller's address and country, its running count of calls per key per
 * UTC day (uses, and calls per outcome), the calls themselves for the request
 * log (request-log-store.ts), and the latest call of each revoked key. From
 * its alarm, at most once per LAST_USED_FLUSH_SECONDS, it writes the counts
 * and latest times to D1 in one batch: times move forward only, and daily
 * counts are written as this shard's absolute totals, so a flush retried after
 * a failure never counts a call twice. The request log stays here.
 *
 * A revoked key presented raises a `used_after_revoke` signal (D1's
 * key_signals) at most once per key per hour, never two within an hour of
 * each other: per shard here, and over every shard in D1 (the insert looks
 * for one within the hour; the dedupe key, by UTC hour, makes a resent flush
 * harmless).
 */
export class LastUsedRecorder extends DurableObject<Env> implements LastUsedRecorderRpc {
  readonly #sql: SqlStorage;
  readonly #log: RequestLogStore;

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
    // Since the request log: calls per outcome per day (`flushed` is the tally
    // of every count flushed; for older rows, whose outcomes are 0, it was
    // `requests`, which is that same tally).
    if (this.#getMeta("schema") === null) {
      ctx.storage.transactionSync(() => {
        const columns = new Set(
          this.#sql
            .exec<{ name: string }>(`SELECT name FROM pragma_table_info('daily')`)
            .toArray()
            .map((c) => c.name),
        );
        for (const outcome of OUTCOMES) {
          if (!columns.has(outcome)) this.#sql.exec(`ALTER TABLE daily ADD COLUMN ${outcome} INTEGER NOT NULL DEFAULT 0`);
        }
        this.#setMeta("schema", "2");
      });
    }
    // The latest call of each revoked key (for its record and D1), and the signals waiting for D1.
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS after_revoke (key_id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, at INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS signals (
      dedupe TEXT PRIMARY KEY, id TEXT NOT NULL, key_id TEXT NOT NULL, workspace_id TEXT NOT NULL, at INTEGER NOT NULL,
      data TEXT NOT NULL, flushed INTEGER NOT NULL DEFAULT 0)`);
    this.#log = new RequestLogStore(this.#sql);
  }

  /**
   * Applies batches of calls sent to shard number `shard`; a batch id already
   * applied is ignored. Counts, latest uses and the batch ids commit in one
   * transaction with the first chunk of the request log's entries; the rest
   * follow a chunk per transaction (CALLS_PER_WRITE), other work let in
   * between. A shard that dies between chunks loses the rest of those
   * entries, never stores one twice: the batch is already marked as applied.
   */
  async record(shard: number, batches: UseBatch[]): Promise<void> {
    const now = Date.now();
    const dropped = { isolate: 0, batch: 0, rate: 0, evicted: 0, erased: 0, failed: 0 };
    const count = (d: Partial<typeof dropped>) => {
      for (const [k, n] of Object.entries(d)) dropped[k as keyof typeof dropped] += n;
    };
    const entries: NewCall[] = [];
    try {
      this.ctx.storage.transactionSync(() => {
        if (Number.isSafeInteger(shard)) this.#setMeta("shard", String(shard));
        for (const batch of batches) {
          if (this.#sql.exec(`SELECT 1 FROM batches WHERE id = ?`, batch.id).toArray().length > 0) continue;
          this.#sql.exec(`INSERT INTO batches (id, at) VALUES (?, ?)`, batch.id, now);
          const calls: NewCall[] = [];
          this.#apply(batch.uses, calls, now, dropped);
          const { accepted, dropped: refused } = this.#log.admit(calls, now);
          count(refused);
          for (const c of accepted) entries.push(c);
        }
        this.#sql.exec(`DELETE FROM batches WHERE at < ?`, now - SEEN_BATCH_MS);
        if (batches.length > 1) entries.sort((a, b) => a[2] - b[2]);
        count(this.#log.store(entries.splice(0, CALLS_PER_WRITE), now));
      });
    } catch (error) {
      this.#log.forgetCache(); // the transaction rolled back: what the store counted in memory did not happen
      throw error;
    }
    while (entries.length > 0) {
      await scheduler.wait(0);
      const chunk = entries.splice(0, CALLS_PER_WRITE);
      try {
        count(this.ctx.storage.transactionSync(() => this.#log.store(chunk, now)));
      } catch (error) {
        // The counts are in and the batch marked as applied: only these entries are lost, counted.
        this.#log.forgetCache();
        const lost = chunk.length + entries.length;
        dropped.failed += lost;
        log("error", "request_log_write_failed", { shard: this.#shard(), entries: lost, error: errorMessage(error) });
        break;
      }
    }
    if (Object.values(dropped).some((n) => n > 0)) {
      log("warn", "request_log_dropped", { shard: this.#shard(), ...dropped });
    }
    const flushAt = Math.max(now, Number(this.#getMeta("last_flush") ?? 0) + (await this.#flushIntervalMs()));
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > flushAt) await this.ctx.storage.setAlarm(flushAt);
  }

  /**
   * One batch's entries: latest uses, daily counts, revoked keys presented
   * and their signals, in a few statements whatever the batch's size (a
   * message carries every key an isolate served in a window, thousands at
   * times); the calls for the request log are gathered into `calls`.
   */
  #apply(entries: UseEntry[], calls: NewCall[], now: number, dropped: { isolate: number }): void {
    const uses: [string, string, number, string | null, string | null][] = [];
    const days: (string | number)[][] = [];
    const afterRevoke: [string, string, number][] = [];
    const signals: [string, string, string, string, number, string][] = [];
    for (const u of entries) {
      if (typeof u.keyId !== "string" || typeof u.workspaceId !== "string") continue;
      if (u.at !== null && Number.isSafeInteger(u.at)) uses.push([u.keyId, u.workspaceId, u.at, u.ip, u.country]);
      const perDay = new Map<string, number[]>();
      const counts = (day: string) => {
        let row = perDay.get(day);
        if (!row) perDay.set(day, (row = COUNT_COLUMNS.map(() => 0)));
        return row;
      };
      for (const [day, n] of Object.entries(u.days ?? {})) if (isDay(day) && isCount(n)) counts(day)[0] = n;
      for (const [day, o] of Object.entries(u.outcomes ?? {})) {
        if (!isDay(day) || !Array.isArray(o)) continue;
        const row = counts(day);
        OUTCOMES.forEach((_, i) => {
          if (isCount(o[i])) row[i + 1] = o[i];
        });
      }
      for (const [day, row] of perDay) if (row.some((n) => n > 0)) days.push([u.keyId, day, u.workspaceId, ...row]);
      for (const c of u.calls ?? []) {
        const call = newCall(u.keyId, u.workspaceId, c);
        if (call) calls.push(call);
      }
      if (isCount(u.dropped)) dropped.isolate += u.dropped;
      const revoked = u.afterRevoke;
      if (Array.isArray(revoked) && Number.isSafeInteger(revoked[0])) {
        const [at, ip, country] = revoked;
        afterRevoke.push([u.keyId, u.workspaceId, at]);
        const data = JSON.stringify({ ip: ip ?? null, country: country ?? null, at: new Date(at).toISOString() });
        signals.push([
          `used_after_revoke:${u.keyId}:${new Date(at).toISOString().slice(0, 13)}`,
          newId("sig"),
          u.keyId,
          u.workspaceId,
          at,
          data,
        ]);
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
        `INSERT INTO daily (key_id, day, workspace_id, ${COUNT_COLUMNS.join(", ")})
         SELECT value ->> 0, value ->> 1, value ->> 2, ${COUNT_COLUMNS.map((_, i) => `value ->> ${i + 3}`).join(", ")}
         FROM json_each(?) WHERE true
         ON CONFLICT (key_id, day) DO UPDATE SET ${COUNT_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`,
        JSON.stringify(days),
      );
    }
    if (afterRevoke.length > 0) {
      this.#sql.exec(
        `INSERT INTO after_revoke (key_id, workspace_id, at)
         SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true
         ON CONFLICT (key_id) DO UPDATE SET at = excluded.at WHERE excluded.at > after_revoke.at`,
        JSON.stringify(afterRevoke),
      );
      // At most one per key within an hour on this shard (the earliest of this batch); D1 does the same over every shard.
      const earliest = new Map<string, (typeof signals)[number]>();
      for (const signal of signals) {
        const kept = earliest.get(signal[2]);
        if (!kept || signal[4] < kept[4]) earliest.set(signal[2], signal);
      }
      this.#sql.exec(
        `INSERT INTO signals (dedupe, id, key_id, workspace_id, at, data)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each(?1)
         WHERE NOT EXISTS (SELECT 1 FROM signals p WHERE p.key_id = value ->> 2 AND abs(p.at - (value ->> 4)) < ?2)
         ON CONFLICT (dedupe) DO NOTHING`,
        JSON.stringify([...earliest.values()]),
        SIGNAL_SPACING_MS,
      );
      this.#sql.exec(`DELETE FROM signals WHERE flushed = 1 AND at < ?`, now - SIGNAL_MEMORY_MS);
    }
  }

  /** Latest uses (and latest calls after a revoke) this shard holds unflushed, for keys of one workspace (key id → use). */
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
      const revoked = this.#sql
        .exec<{ at: number }>(`SELECT at FROM after_revoke WHERE key_id = ? AND workspace_id = ?`, keyId, workspaceId)
        .toArray()[0];
      if (row || revoked) {
        out[keyId] = { at: row?.used_at ?? null, ip: row?.ip ?? null, country: row?.country ?? null, afterRevokeAt: revoked?.at ?? null };
      }
    }
    return out;
  }

  /** This shard's running daily totals since `fromDay`, for one key of the workspace or (null) all of them. */
  async dailyCounts(workspaceId: string, keyId: string | null, fromDay: string): Promise<DailyCount[]> {
    const columns = `key_id, day, workspace_id, ${COUNT_COLUMNS.join(", ")}`;
    const rows =
      keyId === null
        ? this.#sql.exec<DailyRow>(`SELECT ${columns} FROM daily WHERE workspace_id = ? AND day >= ?`, workspaceId, fromDay)
        : this.#sql.exec<DailyRow>(
            `SELECT ${columns} FROM daily WHERE key_id = ? AND workspace_id = ? AND day >= ?`,
            keyId,
            workspaceId,
            fromDay,
          );
    return rows.toArray().map((r) => ({ keyId: r.key_id, day: r.day, requests: r.requests, outcomes: OUTCOMES.map((o) => r[o]) }));
  }

  /** A page of one key's request log as this shard (number `shard`) holds it, newest first. */
  async calls(shard: number, workspaceId: string, keyId: string, query: CallQuery): Promise<StoredCall[]> {
    return this.#log.list(shard, workspaceId, keyId, query);
  }

  /**
   * Erases the workspace's request log entries made before `before` here: none
   * is answered or accepted from now on, and a bounded number are deleted per
   * call; the caller calls again until `done`.
   */
  async erase(workspaceId: string, before: number, limit?: number): Promise<{ deleted: number; done: boolean }> {
    try {
      return this.ctx.storage.transactionSync(() => this.#log.erase(workspaceId, before, Date.now(), limit));
    } catch (error) {
      this.#log.forgetCache();
      throw error;
    }
  }

  /**
   * Flushes to D1 and deletes expired request log entries. Then, if it did
   * anything, makes sure an alarm comes when the next entry expires, so
   * that a shard nobody writes to still deletes its entries on time.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const expired = this.ctx.storage.transactionSync(() => this.#log.expire(now, MAX_EXPIRED_PER_ALARM));
    const flushed = await this.#flush();
    if (!flushed && expired === 0) return;
    const expiry = this.#log.nextExpiry();
    if (expiry === null) return;
    // A backlog (more expired than one alarm deletes) goes a chunk a second.
    const at = expiry <= now ? now + 1_000 : expiry;
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > at) await this.ctx.storage.setAlarm(at);
  }

  /** Writes what is due to D1; answers whether there was anything to write. */
  async #flush(): Promise<boolean> {
    const uses = this.#sql
      .exec<{ key_id: string; workspace_id: string; used_at: number; ip: string | null; country: string | null }>(
        `SELECT key_id, workspace_id, used_at, ip, country FROM uses ORDER BY key_id LIMIT ?`,
        MAX_ROWS_PER_FLUSH,
      )
      .toArray();
    const daily = this.#sql
      .exec<DailyRow & { tally: number }>(
        `SELECT key_id, day, workspace_id, ${COUNT_COLUMNS.join(", ")}, ${TALLY} AS tally FROM daily
         WHERE ${TALLY} > flushed ORDER BY day, key_id LIMIT ?`,
        MAX_ROWS_PER_FLUSH,
      )
      .toArray();
    const afterRevoke = this.#sql
      .exec<{ key_id: string; workspace_id: string; at: number }>(
        `SELECT key_id, workspace_id, at FROM after_revoke ORDER BY key_id LIMIT ?`,
        MAX_ROWS_PER_FLUSH,
      )
      .toArray();
    const signals = this.#sql
      .exec<{ id: string; dedupe: string; key_id: string; workspace_id: string; at: number; data: string }>(
        `SELECT id, dedupe, key_id, workspace_id, at, data FROM signals WHERE flushed = 0 ORDER BY at LIMIT ?`,
        MAX_ROWS_PER_FLUSH,
      )
      .toArray();
    if (uses.length === 0 && daily.length === 0 && afterRevoke.length === 0 && signals.length === 0) return false;

    const shard = this.#shard();
    const now = Date.now();
    const db = this.env.DB;
    // Three statements per flush whatever the number of rows (a batch of one
    // statement per row would run into D1's limit of queries per invocation),
    // and two more when revoked keys were presented. The rows travel as one
    // JSON parameter each, read back with json_each.
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
          // This shard's absolute totals: writing them twice is writing them once.
          `INSERT INTO key_usage_daily (key_id, day, shard, workspace_id, ${COUNT_COLUMNS.join(", ")})
           SELECT value ->> 0, value ->> 1, ?2, value ->> 2, ${COUNT_COLUMNS.map((_, i) => `value ->> ${i + 3}`).join(", ")}
           FROM json_each(?1) WHERE true
           ON CONFLICT (key_id, day, shard) DO UPDATE SET ${COUNT_COLUMNS.map((c) => `${c} = max(${c}, excluded.${c})`).join(", ")}`,
        )
        .bind(JSON.stringify(daily.map((d) => [d.key_id, d.day, d.workspace_id, ...COUNT_COLUMNS.map((c) => d[c])])), shard),
      db
        .prepare(`DELETE FROM key_usage_daily WHERE rowid IN (SELECT rowid FROM key_usage_daily WHERE day < ?1 LIMIT ?2)`)
        .bind(utcDay(now - USAGE_RETENTION_DAYS * DAY_MS), MAX_EXPIRED_ROWS_PER_FLUSH),
      ...(afterRevoke.length === 0
        ? []
        : [
            db
              .prepare(
                // Forward only, of this workspace's revoked keys only.
                `UPDATE api_keys SET used_after_revoke_at = u.at
                 FROM (SELECT value ->> 0 AS id, value ->> 1 AS ws, value ->> 2 AS at FROM json_each(?1)) AS u
                 WHERE api_keys.id = u.id AND api_keys.workspace_id = u.ws AND api_keys.revoked_at IS NOT NULL
                   AND (api_keys.used_after_revoke_at IS NULL OR api_keys.used_after_revoke_at < u.at)`,
              )
              .bind(JSON.stringify(afterRevoke.map((r) => [r.key_id, r.workspace_id, r.at]))),
          ]),
      ...(signals.length === 0
        ? []
        : [
            db
              .prepare(
                // At most one per key within an hour over every shard (and the dedupe key is
                // unique, so a flush sent again adds nothing). Only a key of that workspace, and
                // revoked, raises one, whatever a message claimed.
                `INSERT INTO key_signals (id, key_id, workspace_id, kind, dedupe, at, data)
                 SELECT s.value ->> 0, s.value ->> 1, s.value ->> 2, 'used_after_revoke', s.value ->> 3, s.value ->> 4, s.value ->> 5
                 FROM json_each(?1) AS s JOIN api_keys ON api_keys.id = s.value ->> 1 AND api_keys.workspace_id = s.value ->> 2
                 WHERE api_keys.revoked_at IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM key_signals p WHERE p.key_id = s.value ->> 1 AND p.kind = 'used_after_revoke'
                                   AND abs(p.at - (s.value ->> 4)) < ${SIGNAL_SPACING_MS})
                 ON CONFLICT (dedupe) DO NOTHING
                 RETURNING key_id, workspace_id, dedupe`,
              )
              .bind(JSON.stringify(signals.map((g) => [g.id, g.key_id, g.workspace_id, g.dedupe, g.at, g.data]))),
          ]),
    ];
    this.#setMeta("last_flush", String(now));
    let results: D1Result[];
    try {
      results = await db.batch(statements());
    } catch (error) {
      // Keep every row and try again one interval later.
      log("error", "last_used_flush_failed", { shard, keys: uses.length, days: daily.length, error: errorMessage(error) });
      await this.ctx.storage.setAlarm(now + Math.max(await this.#flushIntervalMs(), 1_000));
      return true;
    }
    const raised =
      signals.length > 0 ? ((results.at(-1)?.results ?? []) as { key_id: string; workspace_id: string; dedupe: string }[]) : [];
    // Raised now, once over every shard: the webhooks turn it into an event; until then the log says it.
    for (const r of raised) log("warn", "used_after_revoke", { keyId: r.key_id, workspaceId: r.workspace_id, signal: r.dedupe });
    this.ctx.storage.transactionSync(() => {
      // A use that arrived during the batch is newer than what was written: keep it.
      this.#sql.exec(
        `DELETE FROM uses WHERE rowid IN (
           SELECT uses.rowid FROM json_each(?) AS w JOIN uses ON uses.key_id = w.value ->> 0 AND uses.used_at <= w.value ->> 1)`,
        JSON.stringify(uses.map((u) => [u.key_id, u.used_at])),
      );
      this.#sql.exec(
        `DELETE FROM after_revoke WHERE rowid IN (
           SELECT after_revoke.rowid FROM json_each(?) AS w JOIN after_revoke ON after_revoke.key_id = w.value ->> 0 AND after_revoke.at <= w.value ->> 1)`,
        JSON.stringify(afterRevoke.map((r) => [r.key_id, r.at])),
      );
      // What D1 raised is remembered, to space this shard's next one from it; what D1 refused (another
      // shard raised one within the hour) is forgotten, so that it spaces nothing.
      this.#sql.exec(
        `UPDATE signals SET flushed = 1 WHERE dedupe IN (SELECT value FROM json_each(?))`,
        JSON.stringify(raised.map((r) => r.dedupe)),
      );
      this.#sql.exec(
        `DELETE FROM signals WHERE flushed = 0 AND dedupe IN (SELECT value FROM json_each(?))`,
        JSON.stringify(signals.map((g) => g.dedupe)),
      );
      this.#sql.exec(
        `UPDATE daily SET flushed = w.tally
         FROM (SELECT value ->> 0 AS key_id, value ->> 1 AS day, value ->> 2 AS tally FROM json_each(?)) AS w
         WHERE daily.key_id = w.key_id AND daily.day = w.day`,
        JSON.stringify(daily.map((d) => [d.key_id, d.day, d.tally])),
      );
      // Past days that are fully written are D1's alone now. Yesterday stays a
      // day longer, for isolates that report a use just after midnight.
      this.#sql.exec(`DELETE FROM daily WHERE ${TALLY} = flushed AND day < ?`, utcDay(now - DAY_MS));
    });
    const left =
      this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM uses`).one().n +
      this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM after_revoke`).one().n +
      this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM signals WHERE flushed = 0`).one().n +
      this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM daily WHERE ${TALLY} > flushed`).one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + (await this.#flushIntervalMs()));
    return true;
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
