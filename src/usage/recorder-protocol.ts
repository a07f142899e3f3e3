import type { Env } from "../env";
import { raceTimeout, TIMED_OUT } from "../lib/race-timeout";

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

/** How long a reader waits for a shard's answer by default. */
export const SHARD_READ_TIMEOUT_MS = 1_000;

export const recorderShard = (env: Env, shard: number) => env.LAST_USED.get(env.LAST_USED.idFromName(`shard:${shard}`));

/**
 * Every shard's answer to `read`, with the shard's number. A shard that fails,
 * cannot even be addressed, or has not answered within `timeoutMs` is left out
 * and reported to `onError`: a stalled shard never holds the request.
 */
export async function askEveryShard<T>(
  env: Env,
  read: (shard: ReturnType<typeof recorderShard>, n: number) => Promise<T>,
  onError: (error: unknown) => void,
  timeoutMs = SHARD_READ_TIMEOUT_MS,
): Promise<[number, T][]> {
  const ask = async (n: number): Promise<T> => {
    // Inside an async function, a namespace that throws at once rejects this shard's answer only.
    const answer = await raceTimeout(read(recorderShard(env, n), n), timeoutMs);
    if (answer === TIMED_OUT) throw new Error(`recorder shard ${n} did not answer within ${timeoutMs} ms`);
    return answer;
  };
  const answers = await Promise.allSettled(Array.from({ length: RECORDER_SHARDS }, (_, n) => ask(n)));
  const out: [number, T][] = [];
  answers.forEach((a, n) => {
    if (a.status === "fulfilled") out.push([n, a.value]);
    else onError(a.reason);
  });
  return out;
}
