import { inArray } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { AuditActor } from "../audit/events";
import { database, storage } from "../db/client";
import { type ApiKeyRow, apiKeys } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { hashKey } from "../keys/format/hash";
import { isWellFormedKey } from "../keys/format/key";
import { publishChange } from "../keys/publish-change";
import { revocationStatements } from "../keys/revocation";
import type { KeyStore } from "../keys/verify/key-store";
import { log } from "../lib/log";
import type { ReportEntry } from "./report";

/** revokedBy and the audit actorId of a key revoked because GitHub found it in public. */
export const SECRET_SCANNING_ACTOR = "github_secret_scanning";

/** D1 binds at most 100 parameters per statement; lookups go in chunks below that. */
const IDS_PER_STATEMENT = 90;
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
export async function revokeLeakedKeys(
  env: Env,
  ctx: WaitUntil,
  keys: KeyStore,
  report: ReportEntry[],
  client: Pick<AuditActor, "clientIp" | "userAgent">,
): Promise<TokenLabel[]> {
  const hashes = report.map((entry) => hashKey(entry.token));
  // Shape and checksum first: a token that cannot be one of our keys costs no lookup.
  const firstUrl = new Map<string, string | null>();
  report.forEach((entry, i) => {
    if (isWellFormedKey(entry.token) && !firstUrl.has(hashes[i]!)) firstUrl.set(hashes[i]!, entry.url ?? null);
  });

  const ours = await findByHashes(env, [...firstUrl.keys()]);
  const active = ours.filter((row) => row.revokedAt === null);
  if (active.length > 0) await revoke(env, ctx, keys, active, firstUrl, client);

  const known = new Set(ours.map((row) => row.keyHash));
  log("info", "secret_scanning_report", { tokens: report.length, wellFormed: firstUrl.size, ours: ours.length, revoked: active.length });
  return report.map((entry, i) => ({
    token_hash: hashes[i]!,
    token_type: entry.type,
    label: known.has(hashes[i]!) ? "true_positive" : "false_positive",
  }));
}

/** One D1 round trip for all hashes: the chunked lookups go in one batch. */
async function findByHashes(env: Env, hashes: string[]): Promise<ApiKeyRow[]> {
  if (hashes.length === 0) return [];
  const db = database(env.DB);
  const lookups = chunks(hashes).map((chunk) => db.select().from(apiKeys).where(inArray(apiKeys.keyHash, chunk)));
  const results = await storage("find_leaked_keys", () => db.batch(lookups as NonEmpty<(typeof lookups)[number]>));
  return results.flat();
}

/** All revocations in one batch (one transaction), then each published like an admin's revoke. */
async function revoke(
  env: Env,
  ctx: WaitUntil,
  keys: KeyStore,
  active: ApiKeyRow[],
  urls: Map<string, string | null>,
  client: Pick<AuditActor, "clientIp" | "userAgent">,
): Promise<void> {
  const db = database(env.DB);
  const now = Date.now();
  const revocations = active.flatMap((row) => {
    const actor: AuditActor = { workspaceId: row.workspaceId, userId: SECRET_SCANNING_ACTOR, ...client };
    const url = urls.get(row.keyHash)?.slice(0, MAX_STORED_URL_LENGTH) ?? null;
    return revocationStatements(db, row.id, actor, "leaked", { url }, now);
  });
  const rereads = chunks(active.map((row) => row.id)).map((ids) => db.select().from(apiKeys).where(inArray(apiKeys.id, ids)));
  const statements: BatchItem<"sqlite">[] = [...revocations, ...rereads];
  const results: unknown[] = await storage("revoke_leaked_keys", () => db.batch(statements as NonEmpty<BatchItem<"sqlite">>));
  // What D1 now holds: a key revoked concurrently by someone else keeps that revoke, and is published as it is.
  const revoked = (results.slice(revocations.length) as ApiKeyRow[][]).flat();
  await Promise.all(revoked.map((row) => publishChange(env, ctx, keys, row)));
}

type NonEmpty<T> = [T, ...T[]];

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IDS_PER_STATEMENT) out.push(items.slice(i, i + IDS_PER_STATEMENT));
  return out;
}
