import type { Env, WaitUntil } from "../../env";
import type { VerifiedKey } from "./verified-key";

/**
 * Where verification finds keys. The app is given one (`createApp({ keys })`):
 * production uses the cached store (memo, change feed, KV, D1); the bench's
 * baseline assembles a store that asks D1 every time; tests make a fresh
 * store per simulated isolate.
 */
export interface KeyStore {
  /**
   * The key whose SHA-256 is `hash`, or null if there is none. Throws the
   * `unavailable` problem when storage cannot answer: never a guess.
   * `requestUrl` is the request's: shared caches are kept under its origin.
   */
  find(env: Env, hash: string, ctx: WaitUntil, requestUrl: string): Promise<VerifiedKey | null>;
  /** D1 committed a change to this key: this isolate sees it at once. */
  remember(hash: string, record: VerifiedKey): void;
  /**
   * After changes committed here: re-reads the change log's recent part now,
   * so that the other isolates of this location see them at their next read
   * of it, not up to a refresh age later. Never throws (the change is made).
   */
  announce(env: Env, requestUrl: string): Promise<void>;
}
