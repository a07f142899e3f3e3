import { Problem, unavailable } from "../http/problem";
import { errorMessage, log } from "../lib/log";

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
