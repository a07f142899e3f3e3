/**
 * A small in-isolate LRU with per-entry expiry, bounded by entry count and by
 * an estimate of bytes. Map iteration order is insertion order, so deleting and
 * re-inserting on a hit keeps the least recently used entry first.
 */
export interface MemoOptions {
  maxEntries: number;
  maxBytes: number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
  bytes: number;
}

export class Memo<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private bytes = 0;

  constructor(private readonly options: MemoOptions) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= now) {
      this.bytes -= entry.bytes;
      return undefined;
    }
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number, bytes: number, now = Date.now()): void {
    this.delete(key);
    if (bytes > this.options.maxBytes) return;
    this.entries.set(key, { value, expiresAt: now + ttlMs, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.options.maxEntries && this.bytes <= this.options.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
