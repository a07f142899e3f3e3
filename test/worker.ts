import { env } from "cloudflare:workers";
import type { Env, UseBatch } from "../src/env";
import { isolate, type RequestInit } from "./isolate";

/**
 * Calls the current test isolate with an env of our choosing (for example a
 * D1 binding that fails) and waits for its waitUntil work, so tests can see
 * what a request did after its response.
 */
export function fetchWith(overrides: Partial<Env>, method: string, path: string, init: RequestInit = {}): Promise<Response> {
  return isolate().settled(overrides, method, path, init);
}

/** A D1 binding whose every operation fails, like an unreachable database. */
export function unreachableD1(): D1Database {
  const fail = () => {
    throw new Error("D1_ERROR: Network connection lost.");
  };
  return { prepare: fail, batch: fail, exec: fail, dump: fail, withSession: fail } as unknown as D1Database;
}

/** A D1 whose statements prepare fine but fail when they run (the connection drops mid-query). */
export function d1FailingOnExecute(): D1Database {
  const statement: object = new Proxy(
    {},
    {
      get: (_t, prop) => (prop === "bind" ? () => statement : () => Promise.reject(new Error("D1_ERROR: Network connection lost."))),
    },
  );
  return {
    prepare: () => statement,
    batch: () => Promise.reject(new Error("D1_ERROR: Network connection lost.")),
    withSession: () => ({ prepare: () => statement }),
  } as unknown as D1Database;
}

/** A D1 binding whose every query never settles, like a database that stopped answering. */
export function hangingD1(): D1Database {
  const statement: object = new Proxy({}, { get: (_t, prop) => (prop === "bind" ? () => statement : () => new Promise(() => {})) });
  return {
    prepare: () => statement,
    batch: () => new Promise(() => {}),
    withSession: () => ({ prepare: () => statement }),
  } as unknown as D1Database;
}

/** A KV binding whose reads and writes never settle. */
export const hangingKv = () => ({ get: () => new Promise(() => {}), put: () => new Promise(() => {}) }) as unknown as KVNamespace;

/** A KV binding that answers every read and write with an error, like KV returning 503. */
export const failingKv = () =>
  ({
    get: () => Promise.reject(new Error("KV GET failed: 503")),
    put: () => Promise.reject(new Error("KV PUT failed: 503")),
  }) as unknown as KVNamespace;

/** A KV binding whose read throws before returning a promise; writes fail. */
export const throwingKv = () =>
  ({
    get: () => {
      throw new Error("KV binding threw synchronously");
    },
    put: () => Promise.reject(new Error("KV PUT failed")),
  }) as unknown as KVNamespace;

/** A KV binding that holds `value` under every name and accepts writes without keeping them. */
export const kvReturning = (value: unknown) => ({ get: async () => value, put: async () => {} }) as unknown as KVNamespace;

type Recorder = {
  record(shard: number, batches: UseBatch[]): Promise<unknown>;
  latest(workspaceId: string, keyIds: string[]): Promise<unknown>;
};

/**
 * A LAST_USED namespace whose recorder shards answer with `methods` (given
 * the real shard, to wrap it); a method not given goes to the real shard.
 */
export function recorderStub(methods: Partial<Recorder> | ((real: Recorder) => Partial<Recorder>)): Env["LAST_USED"] {
  return {
    idFromName: (name: string) => env.LAST_USED.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = env.LAST_USED.get(id);
      const real: Recorder = {
        record: (shard, batches) => stub.record(shard, batches),
        latest: (ws, ids) => stub.latest(ws, ids),
      };
      return { ...real, ...(typeof methods === "function" ? methods(real) : methods) };
    },
  } as unknown as Env["LAST_USED"];
}

/** A LAST_USED namespace that cannot even be addressed: idFromName and get throw. */
export function unreachableRecorder(): Env["LAST_USED"] {
  const fail = () => {
    throw new Error("Durable Object namespace unavailable");
  };
  return { idFromName: fail, get: fail } as unknown as Env["LAST_USED"];
}

/**
 * A gate that holds whoever passes it until the test opens it, and counts
 * them: `arrived(n)` resolves once n callers are waiting at it, so a test
 * knows they are in flight without sleeping.
 */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let arrivals = 0;
  const watchers: { n: number; resolve: () => void }[] = [];
  return {
    /** Called by the held code: waits until the gate opens. */
    pass(): Promise<void> {
      arrivals++;
      for (const w of watchers.filter((w) => arrivals >= w.n)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
      return opened;
    },
    arrived(n = 1): Promise<void> {
      return arrivals >= n ? Promise.resolve() : new Promise((resolve) => watchers.push({ n, resolve }));
    },
    get arrivals() {
      return arrivals;
    },
    open: () => open(),
  };
}

/** Counts calls to every method of a binding while delegating to the real one. */
export function counted<T extends object>(target: T): { binding: T; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const binding = new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return value.apply(obj, args);
      };
    },
  });
  return { binding, calls };
}

export { env };

/**
 * The real D1, recording the SQL of every statement prepared (batches
 * included), so a test can tell a key lookup from a read of the change feed.
 */
export function recordingD1(real: D1Database = env.DB): { binding: D1Database; statements: string[] } {
  const statements: string[] = [];
  const binding = new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") {
        return (sql: string) => {
          statements.push(sql);
          return target.prepare(sql);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { binding, statements };
}

/** Statements that read the change feed (src/keys/verify/change-feed.ts). */
export const feedReads = (statements: string[]) => statements.filter((s) => /from\s+key_changes/i.test(s) && /api_keys k/.test(s));
/** Statements that look a key up by its hash. */
export const keyLookups = (statements: string[]) => statements.filter((s) => /"key_hash" (=|in)/i.test(s));

/**
 * A CHANGE_COURIER namespace whose messages never arrive: the isolate that
 * made a change died before telling the courier (a waitUntil that never ran).
 */
export function lostCourier(): Env["CHANGE_COURIER"] {
  const lost = () => new Promise<void>(() => {});
  return {
    idFromName: (name: string) => env.CHANGE_COURIER.idFromName(name),
    get: () => ({ deliver: lost, refill: lost }),
  } as unknown as Env["CHANGE_COURIER"];
}
