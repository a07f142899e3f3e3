import { describe, expect, it } from "vitest";
import { Memo } from "../../../src/keys/verify/memo";

describe("Memo", () => {
  it("evicts the least recently used entry when full", () => {
    const m = new Memo<number>({ maxEntries: 3, maxBytes: 1_000 });
    m.set("a", 1, 10_000, 1, 0);
    m.set("b", 2, 10_000, 1, 0);
    m.set("c", 3, 10_000, 1, 0);
    expect(m.get("a", 1)).toBe(1); // a is now the most recent
    m.set("d", 4, 10_000, 1, 2);
    expect(m.get("b", 3)).toBeUndefined();
    expect([m.get("a", 3), m.get("c", 3), m.get("d", 3)]).toEqual([1, 3, 4]);
    expect(m.size).toBe(3);
  });

  it("is bounded by bytes as well as entries", () => {
    const m = new Memo<string>({ maxEntries: 100, maxBytes: 100 });
    for (let i = 0; i < 10; i++) m.set(`k${i}`, "v", 10_000, 30, 0);
    expect(m.size).toBe(3);
    m.set("huge", "v", 10_000, 101, 0);
    expect(m.get("huge", 0)).toBeUndefined();
    expect(m.size).toBe(3);
  });

  it("forgets entries after their time to live", () => {
    const m = new Memo<string>({ maxEntries: 10, maxBytes: 1_000 });
    m.set("k", "v", 1_000, 1, 0);
    expect(m.get("k", 999)).toBe("v");
    expect(m.get("k", 1_000)).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it("replaces an entry in place and can drop one", () => {
    const m = new Memo<string>({ maxEntries: 10, maxBytes: 10 });
    m.set("k", "old", 1_000, 5, 0);
    m.set("k", "new", 1_000, 5, 0);
    m.set("j", "x", 1_000, 5, 0);
    expect(m.size).toBe(2);
    expect(m.get("k", 0)).toBe("new");
    m.delete("k");
    expect(m.get("k", 0)).toBeUndefined();
    m.set("i", "y", 1_000, 5, 0); // the bytes of k were released
    expect(m.size).toBe(2);
  });
});
