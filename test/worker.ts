import { env } from "cloudflare:workers";
import type { Env } from "../src/env";
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
