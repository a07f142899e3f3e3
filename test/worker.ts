import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../src/index";
import type { Env } from "../src/env";

/**
 * Calls the worker's fetch handler with an env of our choosing (for example a
 * D1 binding that fails) and waits for its waitUntil work, so tests can see
 * what a request did after its response.
 */
export async function fetchWith(
  overrides: Partial<Env>,
  method: string,
  path: string,
  init: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  if (init.body !== undefined) headers.set("Content-Type", "application/json");
  const request = new Request(`https://owlish.test${path}`, {
    method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const ctx = createExecutionContext();
  const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
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
