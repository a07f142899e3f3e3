import { and, desc, eq, isNotNull, isNull, type SQL } from "drizzle-orm";
import { database } from "../db/client";
import { after } from "../db/keyset";
import { apiKeys } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { decodeCursor, page } from "../http/cursor";
import { notFound } from "../http/problem";
import { toKeyRecord } from "./records";

/** A page of a workspace's keys: active ones newest first, or revoked ones newest revocation first. */
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

/** One key record of the workspace; 404 for an id of another workspace, as for one that does not exist. */
export async function getKey(env: Env, workspaceId: string, id: string) {
  const row = await storage("get_key", () =>
    database(env.DB)
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, id), eq(apiKeys.workspaceId, workspaceId)))
      .get(),
  );
  if (!row) throw notFound("No API key with this id in this workspace.");
  return toKeyRecord(row);
}
