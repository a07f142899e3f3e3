import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { Problem, unavailable } from "../http/problem";
import { errorMessage, log } from "../log";
import * as schema from "./schema";

export type Db = DrizzleD1Database<typeof schema>;

// One drizzle instance per D1 binding for the life of the isolate, not one per request.
const instances = new WeakMap<D1Database, Db>();

export function database(d1: D1Database): Db {
  let db = instances.get(d1);
  if (!db) {
    db = drizzle(d1, { schema });
    instances.set(d1, db);
  }
  return db;
}

/**
 * Runs a storage operation; any failure of storage becomes 503 `unavailable`.
 * Failing closed here is what keeps an unreachable D1 from ever letting an
 * unverified request through or turning into a 500.
 */
export async function storage<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    if (error instanceof Problem) throw error;
    log("error", "storage_error", { op: what, error: errorMessage(error) });
    throw unavailable();
  }
}
