import { Problem, unavailable } from "../http/problem";
import { errorMessage, log } from "../lib/log";

export interface StorageOptions {
  /**
   * Unique indexes whose violation is an answer, not a failure, by
   * "table.column" as D1 names them: the problem to throw instead of 503.
   * (A concurrent roll that lost to another is a 409, not "retry".)
   */
  unique?: Record<string, () => Problem>;
}

/**
 * Runs a storage operation; any failure of storage becomes 503 `unavailable`.
 * Failing closed here is what keeps an unreachable D1 from ever letting an
 * unverified request through or turning into a 500. A batch is one
 * transaction: when it fails, nothing of it was written.
 */
export async function storage<T>(what: string, op: () => Promise<T>, options: StorageOptions = {}): Promise<T> {
  try {
    return await op();
  } catch (error) {
    if (error instanceof Problem) throw error;
    const conflict = options.unique && uniqueViolated(error, options.unique);
    if (conflict) throw conflict();
    log("error", "storage_error", { op: what, error: errorMessage(error) });
    throw unavailable();
  }
}

function uniqueViolated(error: unknown, unique: Record<string, () => Problem>): (() => Problem) | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const column = /UNIQUE constraint failed: ([\w.]+)/.exec(e.message)?.[1];
    if (column && unique[column]) return unique[column];
  }
  return undefined;
}
