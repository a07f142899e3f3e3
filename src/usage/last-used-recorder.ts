import { DurableObject } from "cloudflare:workers";
import { and, eq, isNull, lt, or } from "drizzle-orm";
import { database, errorMessage } from "../db/client";
import { apiKeys } from "../db/schema";
import type { Env } from "../env";
import { log } from "../http/log";

/** Keys written to D1 by one flush; the rest wait for the next one. */
export const MAX_KEYS_PER_FLUSH = 500;

export function flushIntervalMs(env: Env): number {
  const seconds = Number(env.LAST_USED_FLUSH_SECONDS ?? "60");
  return (Number.isFinite(seconds) && seconds >= 0 ? seconds : 60) * 1000;
}

/**
 * One per workspace. Keeps the latest use time of each of the workspace's keys
 * in its own SQLite storage (so an eviction loses nothing) and writes them all
 * to D1 in a single batch from its alarm, at most once per
 * LAST_USED_FLUSH_SECONDS. D1 therefore sees one write batch per workspace per
 * interval, however many requests used its keys.
 */
export class LastUsedRecorder extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS last_used (key_id TEXT PRIMARY KEY, used_at INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
  }

  /** Records uses (key id → epoch ms). Only ever moves a key's time forward. */
  async touch(workspaceId: string, uses: Record<string, number>): Promise<void> {
    this.setMeta("workspace", workspaceId);
    for (const [keyId, usedAt] of Object.entries(uses)) {
      if (!Number.isSafeInteger(usedAt)) continue;
      this.sql.exec(
        `INSERT INTO last_used (key_id, used_at) VALUES (?, ?)
         ON CONFLICT (key_id) DO UPDATE SET used_at = max(used_at, excluded.used_at)`,
        keyId,
        usedAt,
      );
    }
    if ((await this.ctx.storage.getAlarm()) === null) {
      const lastFlush = Number(this.getMeta("last_flush") ?? 0);
      await this.ctx.storage.setAlarm(Math.max(Date.now(), lastFlush + flushIntervalMs(this.env)));
    }
  }

  /** The unflushed use times of the given keys (key id → epoch ms), for the keys list. */
  async latest(keyIds: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const keyId of keyIds) {
      const row = this.sql.exec<{ used_at: number }>(`SELECT used_at FROM last_used WHERE key_id = ?`, keyId).toArray()[0];
      if (row) out[keyId] = row.used_at;
    }
    return out;
  }

  /** Uses recorded but not yet written to D1 (key id → epoch ms). */
  async pending(): Promise<Record<string, number>> {
    const rows = this.sql.exec<{ key_id: string; used_at: number }>(`SELECT key_id, used_at FROM last_used`).toArray();
    return Object.fromEntries(rows.map((r) => [r.key_id, r.used_at]));
  }

  override async alarm(): Promise<void> {
    await this.flush();
  }

  private async flush(): Promise<void> {
    const workspaceId = this.getMeta("workspace");
    const rows = this.sql
      .exec<{ key_id: string; used_at: number }>(`SELECT key_id, used_at FROM last_used ORDER BY key_id LIMIT ?`, MAX_KEYS_PER_FLUSH)
      .toArray();
    if (!workspaceId || rows.length === 0) return;

    const db = database(this.env.DB);
    const [first, ...rest] = rows.map((r) =>
      db
        .update(apiKeys)
        .set({ lastUsedAt: r.used_at })
        .where(
          and(
            eq(apiKeys.id, r.key_id),
            eq(apiKeys.workspaceId, workspaceId),
            // Forward only: an older report never overwrites a newer one.
            or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, r.used_at)),
          ),
        ),
    );
    const now = Date.now();
    this.setMeta("last_flush", String(now));
    try {
      await db.batch([first!, ...rest]);
    } catch (error) {
      // Keep every row and try again one interval later.
      log("error", "last_used_flush_failed", { workspaceId, keys: rows.length, error: errorMessage(error) });
      await this.ctx.storage.setAlarm(now + Math.max(flushIntervalMs(this.env), 1000));
      return;
    }
    for (const r of rows) {
      // A touch that arrived during the batch is newer than what was written: keep it.
      this.sql.exec(`DELETE FROM last_used WHERE key_id = ? AND used_at <= ?`, r.key_id, r.used_at);
    }
    const left = this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM last_used`).one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + flushIntervalMs(this.env));
  }

  private getMeta(name: string): string | null {
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE name = ?`, name).toArray()[0];
    return row?.value ?? null;
  }

  private setMeta(name: string, value: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)`, name, value);
  }
}
