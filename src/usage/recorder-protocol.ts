import type { Env } from "../env";

/**
 * Last-used recorders are a fixed set of Durable Object shards. An isolate
 * sends all its uses to one shard (one message per coalescing window, however
 * many keys and workspaces it served), so the number of messages grows with
 * isolates, not with workspaces, and a busy workspace served by thousands of
 * isolates is spread over every shard instead of overloading one object.
 * Readers (the keys list, usage) ask every shard. Changing this number strands
 * the unflushed uses of the shards it drops: raise it only.
 */
export const RECORDER_SHARDS = 16;

export const recorderShard = (env: Env, shard: number) => env.LAST_USED.get(env.LAST_USED.idFromName(`shard:${shard}`));

/** Every shard's answer to `read`, with the shard's number; a shard that fails is left out and reported to `onError`. */
export async function askEveryShard<T>(
  env: Env,
  read: (shard: ReturnType<typeof recorderShard>, n: number) => Promise<T>,
  onError: (error: unknown) => void,
): Promise<[number, T][]> {
  const answers = await Promise.allSettled(Array.from({ length: RECORDER_SHARDS }, (_, n) => read(recorderShard(env, n), n)));
  const out: [number, T][] = [];
  answers.forEach((a, n) => {
    if (a.status === "fulfilled") out.push([n, a.value]);
    else onError(a.reason);
  });
  return out;
}
