/**
 * A Map with a bound on its entries and, optionally, on their total weight
 * (an estimate of bytes, say): what an isolate keeps for as long as it lives
 * must not grow with what clients send.
 *
 * `set` always (re)inserts an entry as the newest. When the new entry does
 * not fit, room is made first, before it is added, by dropping the entry the
 * `victim` picker names (given the entries oldest first), by default the
 * oldest. `get` does not reorder; `touch` does, which makes the map an LRU
 * (a Map iterates in insertion order, so re-inserting moves an entry last).
 */
export interface BoundedMapOptions {
  maxEntries: number;
  /** Largest total weight; default no bound but the entry count. */
  maxWeight?: number;
}

/** Picks which entry goes to make room; `undefined` drops the oldest. Given the entries oldest first. */
export type VictimPicker<K, V> = (oldestFirst: IterableIterator<[K, V]>) => K | undefined;

interface Slot<V> {
  value: V;
  weight: number;
}

export class BoundedMap<K, V> {
  readonly #slots = new Map<K, Slot<V>>();
  readonly #maxEntries: number;
  readonly #maxWeight: number;
  #weight = 0;

  constructor(options: BoundedMapOptions) {
    this.#maxEntries = Math.max(1, Math.floor(options.maxEntries));
    this.#maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
  }

  get size(): number {
    return this.#slots.size;
  }

  has(key: K): boolean {
    return this.#slots.has(key);
  }

  get(key: K): V | undefined {
    return this.#slots.get(key)?.value;
  }

  /** The entry's value, marked as the most recently used. */
  touch(key: K): V | undefined {
    const slot = this.#slots.get(key);
    if (!slot) return undefined;
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    return slot.value;
  }

  /**
   * Stores the entry as the newest, first dropping others (`victim`'s choice,
   * else the oldest) until it fits. False, and nothing stored, when the entry
   * alone weighs more than the whole map may.
   */
  set(key: K, value: V, weight = 1, victim?: VictimPicker<K, V>): boolean {
    this.delete(key);
    if (weight > this.#maxWeight) return false;
    while (this.#slots.size > 0 && (this.#slots.size >= this.#maxEntries || this.#weight + weight > this.#maxWeight)) {
      const chosen = victim?.(this.#entries());
      this.delete(chosen !== undefined && this.#slots.has(chosen) ? chosen : this.#slots.keys().next().value!);
    }
    this.#slots.set(key, { value, weight });
    this.#weight += weight;
    return true;
  }

  delete(key: K): boolean {
    const slot = this.#slots.get(key);
    if (!slot) return false;
    this.#slots.delete(key);
    this.#weight -= slot.weight;
    return true;
  }

  *#entries(): IterableIterator<[K, V]> {
    for (const [key, slot] of this.#slots) yield [key, slot.value];
  }
}
