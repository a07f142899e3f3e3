/** D1 binds at most 100 parameters per statement: lists of ids or hashes go in chunks below that. */
const IDS_PER_STATEMENT = 90;

export function inChunks<T>(items: readonly T[], size = IDS_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
