import { eq } from "drizzle-orm";
import { database, storage } from "../db/client";
import { apiKeys } from "../db/schema";
import type { Env } from "../env";
import { toVerifiedKey } from "./records";
import type { VerifiedKey } from "./verified-key";

/** The key with this hash as D1, the source of truth, has it; `unavailable` when D1 cannot answer. */
export async function readKeyByHash(env: Env, hash: string): Promise<VerifiedKey | null> {
  const row = await storage("key_by_hash", () => database(env.DB).select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).get());
  return row ? toVerifiedKey(row) : null;
}
