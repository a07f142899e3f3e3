import { storage } from "../../db/storage";
import type { Env } from "../../env";
import { toVerifiedKey } from "../records";
import type { VerifiedKey } from "./verified-key";

/**
 * The key with this hash as D1, the source of truth, has it; `unavailable`
 * when D1 cannot answer. The query layer is loaded on the first read: a new
 * isolate whose keys are all in KV never pays for building it.
 */
export async function readKeyByHash(env: Env, hash: string): Promise<VerifiedKey | null> {
  const [{ database }, { apiKeys }, { eq }] = await Promise.all([
    import("../../db/client"),
    import("../../db/schema"),
    import("drizzle-orm"),
  ]);
  const row = await storage("key_by_hash", () => database(env.DB).select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).get());
  return row ? toVerifiedKey(row) : null;
}
