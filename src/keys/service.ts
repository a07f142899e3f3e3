import { and, desc, eq, isNotNull, isNull, type SQL } from "drizzle-orm";
import { type AuditActor, auditRow, insertAuditEvent } from "../audit/events";
import type { Session } from "../context";
import { database, storage } from "../db/client";
import { after } from "../db/keyset";
import { type ApiKeyRow, apiKeys } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { decodeCursor, page } from "../http/cursor";
import { notFound } from "../http/problem";
import { newId } from "../lib/ids";
import { errorMessage, log } from "../lib/log";
import { hashKey } from "./format/hash";
import { displayPrefix, generateKey } from "./format/key";
import { publishChange } from "./publish-change";
import { toKeyRecord, toVerifiedKey } from "./records";
import { revocationStatements } from "./revocation";
import type { Scope } from "./scopes";
import type { KeyStore } from "./verify/key-store";

export interface CreateKeyInput {
  name: string;
  scopes: Scope[];
  expiresAt?: string | null;
  /** Normalised CIDRs (IpAllowlistSchema); omitted: any address. */
  ipAllowlist?: string[];
  rateLimit?: { limit: number; periodSeconds: number } | null;
}

export async function createKey(env: Env, ctx: WaitUntil, keys: KeyStore, session: Session, input: CreateKeyInput, actor: AuditActor) {
  const key = generateKey();
  const row: ApiKeyRow = {
    id: newId("key"),
    workspaceId: session.ws,
    name: input.name,
    prefix: displayPrefix(key),
    keyHash: hashKey(key),
    scopes: input.scopes,
    createdAt: Date.now(),
    createdBy: session.sub,
    lastUsedAt: null,
    expiresAt: input.expiresAt ? Date.parse(input.expiresAt) : null,
    revokedAt: null,
    revokedBy: null,
    revocationReason: null,
    rolledFrom: null,
    rolledTo: null,
    ipAllowlist: input.ipAllowlist ?? [],
    rateLimit: input.rateLimit ?? null,
    lastUsedIp: null,
    lastUsedCountry: null,
  };
  const db = database(env.DB);
  // One batch (one D1 transaction): the key never exists without its audit event.
  await storage("create_key", () =>
    db.batch([db.insert(apiKeys).values(row), insertAuditEvent(db, auditRow("api_key.created", actor, row.id, row.createdAt))]),
  );
  // Warm KV so the key's first use anywhere needs no D1 read. Not required for
  // correctness: a miss falls through to D1, which refills KV.
  ctx.waitUntil(
    keys
      .publish(env, row.keyHash, toVerifiedKey(row))
      .catch((error) => log("warn", "kv_warm_failed", { keyId: row.id, error: errorMessage(error) })),
  );
  return { ...toKeyRecord(row), key };
}

export async function listKeys(
  env: Env,
  workspaceId: string,
  query: { status: "active" | "revoked"; limit: number; cursor?: string | undefined },
) {
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  const revoked = query.status === "revoked";
  const sortColumn = revoked ? apiKeys.revokedAt : apiKeys.createdAt;
  const conditions: (SQL | undefined)[] = [
    eq(apiKeys.workspaceId, workspaceId),
    revoked ? isNotNull(apiKeys.revokedAt) : isNull(apiKeys.revokedAt),
  ];
  if (cursor) {
    conditions.push(after(sortColumn, apiKeys.id, cursor));
  }
  const rows = await storage("list_keys", () =>
    database(env.DB)
      .select()
      .from(apiKeys)
      .where(and(...conditions))
      .orderBy(desc(sortColumn), desc(apiKeys.id))
      .limit(query.limit + 1)
      .all(),
  );
  const result = page(rows, query.limit, (r) => ({ t: (revoked ? r.revokedAt : r.createdAt) ?? 0, id: r.id }));
  return { data: result.data.map(toKeyRecord), nextCursor: result.nextCursor };
}

export async function getKey(env: Env, workspaceId: string, id: string) {
  const row = await findRow(env, workspaceId, id);
  if (!row) throw notFound("No API key with this id in this workspace.");
  return toKeyRecord(row);
}

/**
 * Revocation is final and idempotent. Order: D1 (the source of truth), then
 * this isolate's memo, then KV, so the key fails at once where it was revoked.
 */
export async function revokeKey(env: Env, ctx: WaitUntil, keys: KeyStore, id: string, actor: AuditActor) {
  const { workspaceId } = actor;
  const db = database(env.DB);
  const now = Date.now();
  // One batch (one D1 transaction): the audit event is written with the first
  // revoke only, and never without it.
  const [, , rows] = await storage("revoke_key", () =>
    db.batch([
      ...revocationStatements(db, id, actor, "admin", {}, now),
      db
        .select()
        .from(apiKeys)
        .where(and(eq(apiKeys.id, id), eq(apiKeys.workspaceId, workspaceId))),
    ]),
  );
  const row = rows[0];
  if (!row) throw notFound("No API key with this id in this workspace.");
  await publishChange(env, ctx, keys, row);
  return toKeyRecord(row);
}

function findRow(env: Env, workspaceId: string, id: string) {
  return storage("get_key", () =>
    database(env.DB)
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, id), eq(apiKeys.workspaceId, workspaceId)))
      .get(),
  );
}
