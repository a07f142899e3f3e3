import type { Env, WaitUntil } from "../../env";
import type { VerifiedKey } from "./verified-key";

/**
 * Where verification finds keys, and where key changes are published. The
 * app is given one (`createApp({ keys })`): production uses the cached store
 * (memo → KV → D1); the bench's baseline assembles a store that asks D1 every
 * time; tests make a fresh store per app.
 */
export interface KeyStore {
  /**
   * The key whose SHA-256 is `hash`, or null if there is none. Throws the
   * `unavailable` problem when storage cannot answer: never a guess.
   */
  find(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null>;
  /** D1 committed a change to this key: this isolate sees it at once. */
  remember(hash: string, record: VerifiedKey): void;
  /** Writes the key's state to the shared cache (KV), so other isolates see it within the revocation bound. */
  publish(env: Env, hash: string, record: VerifiedKey): Promise<void>;
}
