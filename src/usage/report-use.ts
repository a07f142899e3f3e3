import { eq } from "drizzle-orm";
import { database, errorMessage, storage } from "../db/client";
import { apiKeys } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { log } from "../http/log";

/**
 * Sends key uses to the workspace's LastUsedRecorder, off the request's
 * critical path and coalesced inside the isolate: at most one message per
 * workspace per LAST_USED_COALESCE_MS (default 5 s), carrying the latest use of every key used since
 * the last one. The first use in a quiet period is sent at once; later ones
 * ride on a send scheduled for the end of the window.
 */
export const DEFAULT_COALESCE_MS = 5_000;

export function coalesceMs(env: Env): number {
  const ms = Number(env.LAST_USED_COALESCE_MS ?? DEFAULT_COALESCE_MS);
  return Number.isFinite(ms) && ms >= 0 ? ms : DEFAULT_COALESCE_MS;
}

interface WorkspaceQueue {
  uses: Map<string, number>;
  lastSentAt: number;
  scheduled: boolean;
}

const queues = new Map<string, WorkspaceQueue>();

export function reportUse(env: Env, ctx: WaitUntil, workspaceId: string, keyId: string, at = Date.now()): void {
  let queue = queues.get(workspaceId);
  if (!queue) {
    queue = { uses: new Map(), lastSentAt: 0, scheduled: false };
    queues.set(workspaceId, queue);
  }
  queue.uses.set(keyId, Math.max(queue.uses.get(keyId) ?? 0, at));
  if (queue.scheduled) return;
  queue.scheduled = true;
  const delay = Math.max(0, queue.lastSentAt + coalesceMs(env) - Date.now());
  ctx.waitUntil(sendLater(env, workspaceId, queue, delay));
}

async function sendLater(env: Env, workspaceId: string, queue: WorkspaceQueue, delay: number): Promise<void> {
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const uses = Object.fromEntries(queue.uses);
  queue.uses.clear();
  queue.scheduled = false;
  queue.lastSentAt = Date.now();
  try {
    const stub = env.LAST_USED.get(env.LAST_USED.idFromName(workspaceId));
    await stub.touch(workspaceId, uses);
  } catch (error) {
    // Last-used is best effort: never fail the request. Keep the uses so the
    // next message for this workspace carries them.
    for (const [keyId, at] of Object.entries(uses)) {
      queue.uses.set(keyId, Math.max(queue.uses.get(keyId) ?? 0, at));
    }
    log("error", "last_used_report_failed", { workspaceId, error: errorMessage(error) });
  }
}

/** The naive way, for the benchmark's baseline only: one D1 write per request, awaited. */
export async function writeUseDirectly(env: Env, keyId: string): Promise<void> {
  await storage("bench_last_used", () =>
    database(env.DB).update(apiKeys).set({ lastUsedAt: Date.now() }).where(eq(apiKeys.id, keyId)).run(),
  );
}

/** For tests: forget queued uses. */
export function resetUseReports(): void {
  queues.clear();
}
