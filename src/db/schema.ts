import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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
  },
  (t) => [
    uniqueIndex("api_keys_key_hash_unique").on(t.keyHash),
    // Active list: newest first, keyset cursor on (created_at, id).
    index("api_keys_ws_created_idx").on(t.workspaceId, t.createdAt, t.id),
    // Revoked list: newest revocation first, keyset cursor on (revoked_at, id).
    index("api_keys_ws_revoked_idx").on(t.workspaceId, t.revokedAt, t.id),
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

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type SourceRow = typeof sources.$inferSelect;
