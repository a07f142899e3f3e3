import { BoundedMap } from "../../lib/bounded-map";

/**
 * The in-isolate memo of key lookups: a least-recently-used map with an
 * expiry per entry, bounded by entry count and by an estimate of bytes.
 */
export interface MemoOptions {
  maxEntries: number;
  maxBytes: number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

export class Memo<V> {
  readonly #entries: BoundedMap<string, Entry<V>>;

  constructor(options: MemoOptions) {
    this.#entries = new BoundedMap({ maxEntries: options.maxEntries, maxWeight: options.maxBytes });
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.touch(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number, bytes: number, now = Date.now()): void {
    this.#entries.set(key, { value, expiresAt: now + ttlMs }, bytes);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
