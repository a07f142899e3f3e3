import { and, eq, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Cursor } from "../http/cursor";

/**
 * Rows after `cursor` in (sort column, id) descending order: the keyset
 * condition every list uses. The id breaks ties between rows written in the
 * same millisecond, so a page boundary never skips or repeats one.
 */
export function after(sortColumn: SQLiteColumn, idColumn: SQLiteColumn, cursor: Cursor): SQL {
  return or(lt(sortColumn, cursor.t), and(eq(sortColumn, cursor.t), lt(idColumn, cursor.id)))!;
}
