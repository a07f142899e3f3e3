import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Times are integer milliseconds since the epoch (UTC); the HTTP layer turns
 * them into ISO 8601 strings. Scopes are a JSON array of scope names.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    // Hex SHA-256 of the full key. The key itself is never stored.
    keyHash: text("key_hash").notNull(),
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    lastUsedAt: integer("last_used_at"),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    revokedBy: text("revoked_by"),
    // Why the key was revoked: "admin", "leaked" (secret scanning), "self" or "idle" (the workspace's key policy); null while active.
    revocationReason: text("revocation_reason", { enum: ["admin", "leaked", "self", "idle"] }),
    // Rotation: the key this one replaced, and the key that replaced this one.
    rolledFrom: text("rolled_from"),
    rolledTo: text("rolled_to"),
    // CIDRs the key may be used from, normalised ("203.0.113.7/32"); [] = anywhere.
    ipAllowlist: text("ip_allowlist", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    // {limit, periodSeconds}; null = unlimited.
    rateLimit: text("rate_limit", { mode: "json" }).$type<{ limit: number; periodSeconds: number } | null>(),
    lastUsedIp: text("last_used_ip"),
    lastUsedCountry: text("last_used_country"),
    // Bumped by every change to the key (src/keys/change.ts). Caches compare
    // versions so that no copy ever replaces a newer state with an older one.
    version: integer("version").notNull().default(1),
    // The rate-limit budget the key draws from: null for its own (its id); a
    // rolled key's successor shares its predecessor's, so a roll's overlap
    // never doubles what the key may do.
    budgetId: text("budget_id"),
    // The version KV holds (written by the change courier only); null until
    // the courier has written this key's copy.
    kvVersion: integer("kv_version"),
    // The latest call made with the key after it was revoked (refused), as the
    // recorder shards flushed it; null if none.
    usedAfterRevokeAt: integer("used_after_revoke_at"),
  },
  (t) => [
    uniqueIndex("api_keys_key_hash_unique").on(t.keyHash),
    // Keys whose KV copy the courier has yet to write.
    index("api_keys_kv_pending_idx").on(t.id).where(sql`${t.kvVersion} IS NULL`),
    // A key is rolled once: of two concurrent rolls the database refuses the second new key.
    uniqueIndex("api_keys_rolled_from_unique").on(t.rolledFrom).where(sql`${t.rolledFrom} IS NOT NULL`),
    // Active list: newest first, keyset cursor on (created_at, id).
    index("api_keys_ws_created_idx").on(t.workspaceId, t.createdAt, t.id),
    // Revoked list: newest revocation first, keyset cursor on (revoked_at, id).
    index("api_keys_ws_revoked_idx").on(t.workspaceId, t.revokedAt, t.id),
    // Active keys by expiry: the cron's expiring/expired signals (src/webhooks/expiry.ts), and per workspace the console's "needs attention".
    index("api_keys_expires_idx").on(t.expiresAt).where(sql`${t.revokedAt} IS NULL AND ${t.expiresAt} IS NOT NULL`),
    index("api_keys_ws_expires_idx").on(t.workspaceId, t.expiresAt).where(sql`${t.revokedAt} IS NULL AND ${t.expiresAt} IS NOT NULL`),
    // Active keys by the time they have been unused since (their last use, or
    // creation): the idle rule of the key policy (src/policy/idle.ts) reads
    // only the keys unused for long enough. The expression is written as the
    // queries write it (columns compare as columns, however they are quoted).
    index("api_keys_ws_idle_idx")
      .on(t.workspaceId, sql`coalesce(\`last_used_at\`, \`created_at\`)`, t.id)
      .where(sql`${t.revokedAt} IS NULL`),
  ],
);

export const sources = sqliteTable(
  "sources",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    name: text("name").notNull(),
    type: text("type", { enum: ["url", "text"] }).notNull(),
    url: text("url"),
    content: text("content"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("sources_ws_created_idx").on(t.workspaceId, t.createdAt, t.id)],
);

/**
 * Append-only record of changes to keys, written in the same D1 batch as the
 * change itself: there is no change without its event and no event without
 * its change. No route updates or deletes a row.
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    // "api_key.created", "api_key.revoked", …
    action: text("action").notNull(),
    // User id (session `sub`) of the admin who made the change.
    actorId: text("actor_id").notNull(),
    // The key the event is about; for a `webhook.*` action, the webhook endpoint's id.
    targetKeyId: text("target_key_id").notNull(),
    // CF-Connecting-IP and User-Agent of the request; null when absent.
    clientIp: text("client_ip"),
    userAgent: text("user_agent"),
    createdAt: integer("created_at").notNull(),
    // Action-specific facts (JSON object), e.g. {"reason":"leaked","url":"…"}; null when none.
    details: text("details", { mode: "json" }).$type<Record<string, unknown> | null>(),
  },
  (t) => [
    // The audit list: newest first, keyset cursor on (created_at, id).
    index("audit_events_ws_created_idx").on(t.workspaceId, t.createdAt, t.id),
    // The same, filtered by key.
    index("audit_events_ws_key_created_idx").on(t.workspaceId, t.targetKeyId, t.createdAt, t.id),
    // A key is revoked once: the database itself refuses a second revoke event.
    uniqueIndex("audit_events_one_revoke_per_key").on(t.targetKeyId).where(sql`${t.action} = 'api_key.revoked'`),
  ],
);

/**
 * Calls per key per UTC day, written by the last-used recorder: `requests`
 * counts the uses (authenticated calls that passed the IP allowlist), the
 * outcome columns every call presented with the key, by outcome (zero on
 * days before the request log). A recorder shard writes its own running
 * totals for the day (absolute, not increments), so a flush retried after a
 * failure never counts a call twice; the day's counts are the sums over shards.
 */
export const keyUsageDaily = sqliteTable(
  "key_usage_daily",
  {
    keyId: text("key_id").notNull(),
    // "YYYY-MM-DD", UTC.
    day: text("day").notNull(),
    shard: integer("shard").notNull(),
    workspaceId: text("workspace_id").notNull(),
    requests: integer("requests").notNull(),
    ok: integer("ok").notNull().default(0),
    insufficientScope: integer("insufficient_scope").notNull().default(0),
    ipNotAllowed: integer("ip_not_allowed").notNull().default(0),
    rateLimited: integer("rate_limited").notNull().default(0),
    revoked: integer("revoked").notNull().default(0),
    expired: integer("expired").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.keyId, t.day, t.shard] }),
    // Retention deletes by day.
    index("key_usage_daily_day_idx").on(t.day),
  ],
);

/**
 * The change log: one row per change to a key, written in the same D1 batch
 * as the change (src/keys/change.ts), in commit order (seq). It is what
 * carries a change to every location: the courier delivers it to KV
 * (kv_delivered_at), isolates follow its recent part (src/keys/verify/
 * change-feed.ts), and webhook events are produced from it (events_at).
 */
export const keyChanges = sqliteTable(
  "key_changes",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    keyId: text("key_id").notNull(),
    workspaceId: text("workspace_id").notNull(),
    // The key's version after this change.
    version: integer("version").notNull(),
    kind: text("kind", { enum: ["created", "updated", "rolled", "revoked"] }).notNull(),
    at: integer("at").notNull(),
    actorId: text("actor_id").notNull(),
    // revoked {reason, url?}, rolled {newKeyId, overlapSeconds}, updated {fields}; null when none.
    details: text("details", { mode: "json" }).$type<Record<string, unknown> | null>(),
    // Null until KV holds this version or a newer one.
    kvDeliveredAt: integer("kv_delivered_at"),
    kvAttempts: integer("kv_attempts").notNull().default(0),
    kvNextAttemptAt: integer("kv_next_attempt_at").notNull(),
    // Null until the webhook events of this change were produced.
    eventsAt: integer("events_at"),
  },
  (t) => [
    // The change feed: changes of the last minutes, by commit time and by delivery time.
    index("key_changes_at_idx").on(t.at),
    index("key_changes_kv_delivered_idx").on(t.kvDeliveredAt),
    // The courier's work: changes KV does not hold yet, next attempt first.
    index("key_changes_kv_pending_idx").on(t.kvNextAttemptAt).where(sql`${t.kvDeliveredAt} IS NULL`),
    index("key_changes_events_pending_idx").on(t.seq).where(sql`${t.eventsAt} IS NULL`),
  ],
);

/**
 * Events about a key that are not changes to it (a revoked key presented, a
 * key about to expire or expired, a key idle): an outbox from which webhook
 * events are produced (events_at). `dedupe` makes "sent once" a fact of the
 * database: a second insert of the same signal does nothing.
 */
export const keySignals = sqliteTable(
  "key_signals",
  {
    id: text("id").primaryKey(),
    keyId: text("key_id").notNull(),
    workspaceId: text("workspace_id").notNull(),
    kind: text("kind", { enum: ["used_after_revoke", "expiring", "expired", "idle"] }).notNull(),
    dedupe: text("dedupe").notNull(),
    at: integer("at").notNull(),
    data: text("data", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    eventsAt: integer("events_at"),
  },
  (t) => [
    uniqueIndex("key_signals_dedupe_unique").on(t.dedupe),
    index("key_signals_key_at_idx").on(t.keyId, t.at),
    index("key_signals_events_pending_idx").on(t.at).where(sql`${t.eventsAt} IS NULL`),
    // A workspace's recent signals of one kind (the console's "needs attention").
    index("key_signals_ws_kind_at_idx").on(t.workspaceId, t.kind, t.at),
  ],
);

/**
 * Where a workspace's key events are sent (docs/webhooks.md). The signing
 * secret is stored encrypted (src/webhooks/secret-box.ts: AES-256-GCM under
 * a key from the WEBHOOK_SECRET_KEYS secret), so a dump of D1 alone cannot
 * sign a delivery.
 */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    url: text("url").notNull(),
    // The event types it receives, a JSON array of names.
    events: text("events", { mode: "json" }).$type<string[]>().notNull(),
    description: text("description"),
    // "v1:<key id>:<iv>:<ciphertext>" (base64url); never returned after create.
    secret: text("secret").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    // Null while enabled. Disabled by a 410 ("gone"), by 3 days of failures ("failing") or by an admin ("admin").
    disabledAt: integer("disabled_at"),
    disabledReason: text("disabled_reason", { enum: ["gone", "failing", "admin"] }),
    // The first failed attempt since the last delivered one; null after a success.
    failingSince: integer("failing_since"),
  },
  (t) => [index("webhook_endpoints_ws_created_idx").on(t.workspaceId, t.createdAt, t.id)],
);

/**
 * One event for one endpoint, and its delivery state. The id is the event's
 * `webhook-id`, the same on every attempt; for key events it is derived from
 * the change or signal and the endpoint, so producing the events of a change
 * twice writes nothing twice. The payload is the exact body that is signed.
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    endpointId: text("endpoint_id").notNull(),
    workspaceId: text("workspace_id").notNull(),
    event: text("event").notNull(),
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    // `attempts` when the current retry schedule began (a manual retry starts a new one).
    scheduleFrom: integer("schedule_from").notNull().default(0),
    lastAttemptAt: integer("last_attempt_at"),
    lastResponseStatus: integer("last_response_status"),
    // Why the last attempt failed, when no status says it: "timeout", "network", "url_not_allowed", "endpoint_disabled".
    lastError: text("last_error"),
    // When the next attempt is due; null once delivered or failed.
    nextAttemptAt: integer("next_attempt_at"),
    // A consumer holds the delivery until then: two copies of a wake-up never send at once.
    leaseUntil: integer("lease_until"),
  },
  (t) => [
    // An endpoint's deliveries, newest first, keyset cursor on (created_at, id).
    index("webhook_deliveries_endpoint_created_idx").on(t.endpointId, t.createdAt, t.id),
    // The sweep: pending deliveries whose wake-up is overdue.
    index("webhook_deliveries_pending_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    // Retention.
    index("webhook_deliveries_created_idx").on(t.createdAt),
  ],
);

/**
 * A workspace's key policy (docs/key-policy.md): one row per workspace that
 * set one; no row is the default, every rule off. The idle rule's pass state
 * (when the cron next looks at the workspace, and where an unfinished pass
 * resumes) lives here too, reset whenever the idle rule changes.
 */
export const keyPolicies = sqliteTable(
  "key_policies",
  {
    workspaceId: text("workspace_id").primaryKey(),
    // Longest lifetime of a new key (creation to expiry), in days; null: no cap.
    maxLifetimeDays: integer("max_lifetime_days"),
    // New keys and changes need a non-empty IP allowlist.
    requireIpAllowlist: integer("require_ip_allowlist", { mode: "boolean" }).notNull().default(false),
    // Active keys unused for this many days are revoked (after a warning 7 days before); null: never.
    idleRevokeDays: integer("idle_revoke_days"),
    // When idle_revoke_days was set or last changed (null while off): no idle revocation before 7 days after it.
    idleSetAt: integer("idle_set_at"),
    // Bumped by every save: a save is written only over the version it read.
    version: integer("version").notNull(),
    updatedAt: integer("updated_at").notNull(),
    updatedBy: text("updated_by").notNull(),
    // When the idle job next looks at this workspace; null while the idle rule is off.
    idleNextPassAt: integer("idle_next_pass_at"),
    // Where an unfinished idle pass resumes: JSON {since, id} of the last key it handled; null at the start of a pass.
    idleCursor: text("idle_cursor"),
  },
  (t) => [
    // The idle job: workspaces whose pass is due.
    index("key_policies_idle_due_idx").on(t.idleNextPassAt).where(sql`${t.idleRevokeDays} IS NOT NULL`),
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type KeyPolicyRow = typeof keyPolicies.$inferSelect;
export type KeyChangeRow = typeof keyChanges.$inferSelect;
export type KeySignalRow = typeof keySignals.$inferSelect;
export type SourceRow = typeof sources.$inferSelect;
export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;
export type KeyUsageDailyRow = typeof keyUsageDaily.$inferSelect;
