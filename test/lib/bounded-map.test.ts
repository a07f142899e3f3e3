import { describe, expect, it } from "vitest";
import { BoundedMap } from "../../src/lib/bounded-map";

describe("BoundedMap", () => {
  it("never holds more than maxEntries: the oldest entry goes first", () => {
    const m = new BoundedMap<string, number>({ maxEntries: 3 });
    for (const [i, k] of ["a", "b", "c", "d", "e"].entries()) m.set(k, i);
    expect(m.size).toBe(3);
    expect(["a", "b", "c", "d", "e"].map((k) => m.has(k))).toEqual([false, false, true, true, true]);
  });

  it("get leaves the order alone; touch makes an entry the newest (LRU)", () => {
    const m = new BoundedMap<string, number>({ maxEntries: 2 });
    m.set("a", 1);
    m.set("b", 2);
    expect(m.get("a")).toBe(1);
    m.set("c", 3); // a was only read: still the oldest
    expect([m.has("a"), m.has("b"), m.has("c")]).toEqual([false, true, true]);
    expect(m.touch("b")).toBe(2);
    m.set("d", 4); // b was touched: c is the oldest now
    expect([m.has("b"), m.has("c"), m.has("d")]).toEqual([true, false, true]);
  });

  it("setting a key again replaces it and makes it the newest", () => {
    const m = new BoundedMap<string, string>({ maxEntries: 2 });
    m.set("a", "old");
    m.set("b", "x");
    m.set("a", "new");
    m.set("c", "y");
    expect([m.get("a"), m.has("b"), m.get("c")]).toEqual(["new", false, "y"]);
  });

  it("is bounded by total weight too; an entry heavier than the bound is not stored", () => {
    const m = new BoundedMap<string, string>({ maxEntries: 100, maxWeight: 100 });
    for (let i = 0; i < 10; i++) m.set(`k${i}`, "v", 30);
    expect(m.size).toBe(3);
    expect(m.set("huge", "v", 101)).toBe(false);
    expect(m.has("huge")).toBe(false);
    expect(m.size).toBe(3);
    m.delete("k9"); // its weight is released
    expect(m.set("k10", "v", 30)).toBe(true);
    expect(m.size).toBe(3);
  });

  it("makes room before adding: a picker chooses among the existing entries, oldest first, never the new one", () => {
    const m = new BoundedMap<string, number>({ maxEntries: 3 });
    m.set("a", 5);
    m.set("b", 1);
    m.set("c", 9);
    const offered: string[][] = [];
    const smallest = (oldestFirst: IterableIterator<[string, number]>) => {
      const entries = [...oldestFirst];
      offered.push(entries.map(([k]) => k));
      return entries.reduce((min, e) => (e[1] < min[1] ? e : min))[0];
    };
    m.set("d", 0, 1, smallest);
    expect(offered).toEqual([["a", "b", "c"]]);
    expect([m.has("a"), m.has("b"), m.has("c"), m.has("d")]).toEqual([true, false, true, true]);
    // A picker that names nothing (or an unknown key) leaves the oldest to go.
    m.set("e", 7, 1, () => undefined);
    expect(m.has("a")).toBe(false);
    m.set("f", 7, 1, () => "nope");
    expect(m.has("c")).toBe(false);
    expect(m.size).toBe(3);
  });
});
