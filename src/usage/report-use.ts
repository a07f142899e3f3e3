import { eq } from "drizzle-orm";
import { database, errorMessage, storage } from "../db/client";
import { apiKeys } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { log } from "../http/log";

/**
 * Sends key uses to the workspace's LastUsedRecorder, off the request's
 * critical path and coalesced inside the isolate: at most one message per
 * workspace per LAST_USED_COALESCE_MS (default 5 s), carrying the latest use
 * of every key used since the last one. The first use in a quiet period is sent at once; later ones
 * ride on a send scheduled for the end of the window.
 */
export const DEFAULT_COALESCE_MS = 5_000;

export function coalesceMs(env: Env): number {
  const ms = Number(env.LAST_USED_COALESCE_MS ?? DEFAULT_COALESCE_MS);
  return Number.isFinite(ms) && ms >= 0 ? ms : DEFAULT_COALESCE_MS;
}

interface WorkspaceQueue {
  uses: Map<string, number>;
  /** The uses of the message now on its way to the recorder, until it lands. */
  sending: Record<string, number> | null;
  lastSentAt: number;
  scheduled: boolean;
}

const queues = new Map<string, WorkspaceQueue>();
/** Past this many workspaces, queues idle for a whole window are dropped. */
const MAX_IDLE_QUEUES = 1_000;

export function reportUse(env: Env, ctx: WaitUntil, workspaceId: string, keyId: string, at = Date.now()): void {
  let queue = queues.get(workspaceId);
  if (!queue) {
    if (queues.size >= MAX_IDLE_QUEUES) dropIdleQueues(coalesceMs(env));
    queue = { uses: new Map(), sending: null, lastSentAt: 0, scheduled: false };
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
  queue.sending = uses;
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
  } finally {
    if (queue.sending === uses) queue.sending = null;
  }
}

/**
 * Uses of these keys that this isolate has seen but the recorder may not have
 * yet (queued, or on their way): the keys list adds them, so an admin who has
 * just tried a key sees it used at once, not one coalescing window later.
 */
export function unsentUses(workspaceId: string, keyIds: string[]): Record<string, number> {
  const queue = queues.get(workspaceId);
  const out: Record<string, number> = {};
  if (!queue) return out;
  for (const id of keyIds) {
    const at = Math.max(queue.uses.get(id) ?? 0, queue.sending?.[id] ?? 0);
    if (at > 0) out[id] = at;
  }
  return out;
}

function dropIdleQueues(windowMs: number): void {
  const now = Date.now();
  for (const [workspaceId, q] of queues) {
    if (!q.scheduled && q.sending === null && q.uses.size === 0 && q.lastSentAt + windowMs < now) queues.delete(workspaceId);
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
