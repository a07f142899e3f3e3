import { z } from "zod";
import { invalidRequest } from "./problem";

/**
 * Opaque keyset cursor: the sort value and id of the last item on a page.
 * Keyset (not offset) pagination never skips or repeats rows when new rows
 * are inserted between page fetches.
 */
export interface Cursor {
  t: number;
  id: string;
}

const cursorSchema = z.object({ t: z.number().int().nonnegative(), id: z.string().min(1).max(64) });

function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify(cursor)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor(raw: string): Cursor {
  try {
    const json = atob(raw.replaceAll("-", "+").replaceAll("_", "/"));
    return cursorSchema.parse(JSON.parse(json));
  } catch {
    throw invalidRequest("The cursor is not valid; pass nextCursor from a previous page.", [{ path: "cursor", message: "Invalid cursor" }]);
  }
}

/** Splits a `limit + 1` row fetch into a page and the cursor of the next one. */
export function page<T>(rows: T[], limit: number, cursorOf: (row: T) => Cursor) {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}
