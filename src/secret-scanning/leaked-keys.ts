import { inArray } from "drizzle-orm";
import { inChunks } from "../db/chunks";
import { database } from "../db/client";
import { type ApiKeyRow, apiKeys } from "../db/schema";
import { storage } from "../db/storage";
import type { Actor } from "../keys/actor";
import { applyRevokes, type KeyChangeDeps } from "../keys/change";
import { hashKey } from "../keys/format/hash";
import { isWellFormedKey } from "../keys/format/key";
import { log } from "../lib/log";
import type { ReportEntry } from "./report";

/** A leak's URL is stored in the audit event; GitHub's are far shorter than this. */
const MAX_STORED_URL_LENGTH = 2_048;

export interface TokenLabel {
  token_hash: string;
  token_type: string;
  label: "true_positive" | "false_positive";
}

/**
 * Revokes every active key of ours in the report and labels each token.
 *
 * A leak is global: the key is revoked whichever workspace it belongs to,
 * because anyone who can read the public place it was found can use it. Its
 * audit event goes to the key's own workspace; the answer says only
 * true/false positive per token hash, nothing about whose key it was.
 *
 * Replays are harmless: an already revoked key is labelled true_positive and
 * left as it is (first revocation, first event).
 */
export async function revokeLeakedKeys(deps: KeyChangeDeps, report: ReportEntry[], actor: Actor): Promise<TokenLabel[]> {
  const hashes = report.map((entry) => hashKey(entry.token));
  // Shape and checksum first: a token that cannot be one of our keys costs no lookup.
  const firstUrl = new Map<string, string | null>();
  report.forEach((entry, i) => {
    if (isWellFormedKey(entry.token) && !firstUrl.has(hashes[i]!)) firstUrl.set(hashes[i]!, entry.url ?? null);
  });

  const ours = await findByHashes(deps.env.DB, [...firstUrl.keys()]);
  const active = ours.filter((row) => row.revokedAt === null);
  // All revocations in one batch (one transaction), then each published like an admin's revoke.
  const revokes = active.map((row) => ({
    kind: "revoke" as const,
    workspaceId: row.workspaceId,
    keyId: row.id,
    reason: "leaked" as const,
    details: { url: firstUrl.get(row.keyHash)?.slice(0, MAX_STORED_URL_LENGTH) ?? null },
  }));
  await applyRevokes(deps, revokes, actor);

  const known = new Set(ours.map((row) => row.keyHash));
  log("info", "secret_scanning_report", { tokens: report.length, wellFormed: firstUrl.size, ours: ours.length, revoked: active.length });
  return report.map((entry, i) => ({
    token_hash: hashes[i]!,
    token_type: entry.type,
    label: known.has(hashes[i]!) ? "true_positive" : "false_positive",
  }));
}

/** One D1 round trip for all hashes: the chunked lookups go in one batch. */
async function findByHashes(d1: D1Database, hashes: string[]): Promise<ApiKeyRow[]> {
  if (hashes.length === 0) return [];
  const db = database(d1);
  const lookups = inChunks(hashes).map((chunk) => db.select().from(apiKeys).where(inArray(apiKeys.keyHash, chunk)));
  const results = await storage("find_leaked_keys", () => db.batch(lookups as [(typeof lookups)[number], ...typeof lookups]));
  return results.flat();
}
