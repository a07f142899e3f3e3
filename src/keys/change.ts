import { and, eq, exists, getTableColumns, inArray, isNull, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type AuditAction, type AuditedBy, auditRow, insertAuditEventIf } from "../audit/events";
import { inChunks } from "../db/chunks";
import { type Db, database } from "../db/client";
import { type ApiKeyRow, type AuditEventRow, apiKeys, auditEvents, type KeyChangeRow, keyChanges } from "../db/schema";
import { storage } from "../db/storage";
import { notFound, Problem } from "../http/problem";
import { newId } from "../lib/ids";
import { readPolicy } from "../policy/store";
import { type Actor, actorId } from "./actor";
import { hashKey } from "./format/hash";
import { displayPrefix, generateKey } from "./format/key";
import {
  applyPolicy,
  type BrokenRule,
  GUARD_RAIL_FIELDS,
  GUARD_RAILS,
  type GuardRailField,
  type GuardRailValues,
  type KeyPolicy,
  POLICED_FIELDS,
  type PolicedKey,
  policedFields,
} from "./guard-rails";
import { type Committed, type PublishDeps, publish } from "./publish";
import type { Scope } from "./scopes";

/**
 * THE write path of keys. Every change to a key (create, revoke by an admin,
 * by the key itself or for a leak, roll, PATCH) is one `KeyChange`, made by
 * an `Actor`, and goes through the same two steps:
 *
 *   1. its statements, run as ONE D1 batch (one transaction) through the one
 *      storage wrapper: the row write(s), each bumping the key's version; the
 *      audit event (inserted only if the change happened: insertAuditEventIf);
 *      the change's row in the change log (inserted only if its audit event
 *      was: logChange); and a re-read of the rows;
 *   2. once D1 has committed, publish: this isolate's memo at once, and the
 *      change courier is told there is something to deliver (keys/publish.ts).
 *
 * Before step 1, a change that makes or changes a key (create, roll, PATCH)
 * is held to the workspace's key policy (the rules of guard-rails.ts'
 * POLICY_RULES): what a rule fills in (a new key's expiry) is filled in, and
 * a key that would break a rule is refused with 422 `policy_violation`
 * naming each field and rule. Revocations are never refused.
 *
 * The change log carries the change everywhere else: the courier delivers it
 * to KV until KV confirms, every isolate follows its recent part
 * (keys/verify/change-feed.ts), and webhook events are made from it. It is
 * written in the change's own transaction, so no isolate's death after the
 * commit can lose a change.
 */

export type RevocationReason = NonNullable<ApiKeyRow["revocationReason"]>;

/** What a new key is given (a guard rail left out gets the table's default); the rest (id, secret, prefix, times) is made here. */
export type NewKey = {
  name: string;
  scopes: Scope[];
  /** Epoch ms; null: never. */
  expiresAt: number | null;
} & { [F in GuardRailField]?: GuardRailValues[F] | undefined };

/** The fields PATCH may change, in the order the audit event names them: the name and the patchable guard rails. */
const UPDATABLE_FIELDS = ["name", ...GUARD_RAIL_FIELDS.filter((f) => GUARD_RAILS[f].patchable)] as const;
type UpdatableField = "name" | GuardRailField;

/** What PATCH may change; a field left out keeps its value. Scopes are not here: they never change (create another key). */
export type KeyUpdate = { [F in UpdatableField]?: ApiKeyRow[F] | undefined };

export type KeyChange =
  | { kind: "create"; workspaceId: string; fields: NewKey }
  | {
      kind: "revoke";
      workspaceId: string;
      keyId: string;
      reason: RevocationReason;
      /** What the audit event records besides the reason: a leak's `url`; an idle key's `idleSince` and `idleRevokeDays`. */
      details?: { url: string | null } | { idleSince: string; idleRevokeDays: number };
      /**
       * Revoke only while the key has not been used since this time (its last
       * use, or its creation if never used): the idle rule's revocation, which a
       * use that the recorder flushed a moment before must cancel.
       */
      unusedSince?: number;
    }
  | { kind: "roll"; workspaceId: string; keyId: string; overlapSeconds: number; expiresAt: number | null }
  | { kind: "update"; workspaceId: string; keyId: string; fields: KeyUpdate };

type RevokeChange = Extract<KeyChange, { kind: "revoke" }>;

/** What a change answers: the key as D1 now holds it, and for a new key (create, roll) its secret, this once. */
export type KeyChangeResult<C extends KeyChange> = C extends { kind: "create" | "roll" }
  ? { row: ApiKeyRow; key: string }
  : { row: ApiKeyRow };

export type KeyChangeDeps = PublishDeps;

/** The actor as the audit trail records it. For a system actor the event's workspace is the key's own. */
const audited = (actor: Actor): AuditedBy => ({ actorId: actorId(actor), clientIp: actor.clientIp, userAgent: actor.userAgent });

/** The longest overlap a roll allows: a week, time enough to redeploy anything that holds the old key. */
export const MAX_OVERLAP_SECONDS = 604_800;

/** Attempts of a PATCH when another change to the same key lands between its read and its write. */
const MAX_UPDATE_ATTEMPTS = 3;

/**
 * One planned change: the statements of its batch, and what the batch's
 * results mean (the rows to publish and the answer; or a refusal).
 */
interface Plan<R> {
  op: string;
  statements: BatchItem<"sqlite">[];
  conflicts?: Record<string, () => Problem>;
  settle(results: unknown[]): { committed: Committed; result: R } | { retry: ApiKeyRow | undefined };
}

export async function applyKeyChange<C extends KeyChange>(deps: KeyChangeDeps, change: C, actor: Actor): Promise<KeyChangeResult<C>> {
  const db = database(deps.env.DB);
  switch (change.kind) {
    case "create": {
      const policy = await readPolicy(deps.env, change.workspaceId);
      const now = Date.now();
      const fields = newKeyUnderPolicy(policy, change.fields, now);
      return run(deps, db, planCreate(db, { ...change, fields }, actor, now)) as Promise<KeyChangeResult<C>>;
    }
    case "revoke":
      return run(deps, db, planRevoke(db, change, actor, Date.now())) as Promise<KeyChangeResult<C>>;
    case "roll": {
      const roll = await rollUnderPolicy(db, await readPolicy(deps.env, change.workspaceId), change);
      return run(deps, db, planRoll(db, roll.change, actor, roll.now)) as Promise<KeyChangeResult<C>>;
    }
    case "update":
      return update(deps, db, change as Extract<KeyChange, { kind: "update" }>, actor) as Promise<KeyChangeResult<C>>;
  }
  throw new Error("unknown key change");
}

/** Keys one batch of many revokes handles: its statements do not grow with it (see revokeStatements). */
export const REVOKES_PER_BATCH = 90;

/**
 * Many revokes of one reason by one actor (the leak path: GitHub reports up
 * to 1 000 tokens), in batches of REVOKES_PER_BATCH keys, one after the
 * other, each published once committed. A batch is four statements however
 * many keys it holds, so a report of 1 000 tokens costs some 50 D1 queries,
 * far inside the 1 000 a Worker invocation may make. Each batch is one
 * transaction: complete or not at all. If one fails, the batches before it
 * stand and the caller answers 503; a retry (GitHub retries) revokes the rest,
 * and keys already revoked keep their first revocation and event. Answers the
 * rows as D1 now holds them.
 */
export async function applyRevokes(deps: KeyChangeDeps, changes: RevokeChange[], actor: Actor): Promise<ApiKeyRow[]> {
  const db = database(deps.env.DB);
  const rows: ApiKeyRow[] = [];
  for (const chunk of inChunks(changes, REVOKES_PER_BATCH)) {
    const revocations = revokeStatements(db, chunk, actor, Date.now());
    const plan: Plan<ApiKeyRow[]> = {
      op: REVOKE_OPS[chunk[0]!.reason],
      statements: [
        ...revocations,
        db
          .select()
          .from(apiKeys)
          .where(
            inArray(
              apiKeys.id,
              chunk.map((c) => c.keyId),
            ),
          ),
      ],
      settle: (results) => {
        // What D1 now holds: a key revoked concurrently by someone else keeps that revoke, and is published as it is.
        const reread = results.at(-1) as ApiKeyRow[];
        return { committed: { changed: reread, created: [] }, result: reread };
      },
    };
    rows.push(...(await run(deps, db, plan)));
  }
  return rows;
}

/** Step 1, one batch; step 2, publish. */
async function run<R>(deps: KeyChangeDeps, db: Db, plan: Plan<R>): Promise<R> {
  const outcome = await commit(db, plan);
  if ("retry" in outcome) throw new Error(`${plan.op}: nothing to retry`);
  await publish(deps, outcome.committed);
  return outcome.result;
}

async function commit<R>(db: Db, plan: Plan<R>) {
  const statements = plan.statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]];
  const results: unknown[] = await storage(plan.op, () => db.batch(statements), { unique: plan.conflicts });
  return plan.settle(results);
}

// --- the key policy ---------------------------------------------------------

function policyViolation(broken: BrokenRule[], note = ""): Problem {
  const rules = [...new Set(broken.map((b) => b.rule))].join(", ");
  return new Problem("policy_violation", `The key would break the workspace's key policy (${rules}); errors names each field and rule.`, {
    errors: broken.map((b) => ({ path: b.field, rule: b.rule, message: `${b.message}${note}` })),
  });
}

/** A new key's fields under the policy: a missing expiry filled in with the longest allowed, or 422. */
function newKeyUnderPolicy(policy: KeyPolicy, fields: NewKey, now: number): NewKey {
  const proposed: PolicedKey = {
    createdAt: now,
    expiresAt: fields.expiresAt,
    ipAllowlist: fields.ipAllowlist ?? GUARD_RAILS.ipAllowlist.default,
  };
  const { key, broken } = applyPolicy(policy, proposed, POLICED_FIELDS);
  if (broken.length > 0) throw policyViolation(broken);
  return { ...fields, expiresAt: key.expiresAt };
}

/**
 * A roll under the policy: the new key is a new key, held to today's policy
 * whatever the old key was allowed. Its expiry is the request's (or the
 * longest allowed); its guard rails are the old key's, so the old key is read
 * first when a rule is on (a roll otherwise reads nothing before its batch).
 * A key that is missing, revoked or already rolled is left to the roll's
 * own answer (404, 409).
 */
async function rollUnderPolicy(db: Db, policy: KeyPolicy, change: Extract<KeyChange, { kind: "roll" }>) {
  const old =
    policedFields(policy).length > 0 ? await storage("get_key", () => selectKey(db, change.workspaceId, change.keyId).get()) : undefined;
  const now = Date.now();
  if (!old || old.revokedAt !== null || old.rolledTo !== null) return { change, now };
  const { key, broken } = applyPolicy(
    policy,
    { createdAt: now, expiresAt: change.expiresAt, ipAllowlist: old.ipAllowlist },
    POLICED_FIELDS,
  );
  if (broken.length > 0) {
    const inherited = broken.some((b) => b.field === "ipAllowlist");
    throw policyViolation(
      broken,
      inherited ? " The new key inherits this key's IP allowlist, which is empty: set one (PATCH) before rolling." : "",
    );
  }
  return { change: { ...change, expiresAt: key.expiresAt }, now };
}

// --- create -----------------------------------------------------------------

/** Each guard rail as given, or the table's default. */
function guardRails(fields: NewKey): GuardRailValues {
  return Object.fromEntries(GUARD_RAIL_FIELDS.map((f) => [f, fields[f] ?? GUARD_RAILS[f].default])) as GuardRailValues;
}

function planCreate(
  db: Db,
  change: Extract<KeyChange, { kind: "create" }>,
  actor: Actor,
  now: number,
): Plan<{ row: ApiKeyRow; key: string }> {
  const key = generateKey();
  const { fields } = change;
  const row: ApiKeyRow = {
    ...freshKey(key, actor, now, fields.expiresAt, null),
    workspaceId: change.workspaceId,
    name: fields.name,
    scopes: fields.scopes,
    ...guardRails(fields),
  };
  return {
    op: "create_key",
    // The key never exists without its audit event, nor the event without the key.
    statements: [
      db.insert(apiKeys).values(row),
      ...auditedChange(db, auditRow("api_key.created", audited(actor), row.workspaceId, row.id, now), keyExists(row.id)),
    ],
    settle: () => ({ committed: { changed: [], created: [row] }, result: { row, key } }),
  };
}

// --- revoke -----------------------------------------------------------------

/**
 * The statements that revoke keys (one, or a batch of the leak path's), the
 * same three whatever their number: the keys travel as one JSON parameter.
 *
 * Revocation is final and idempotent: a key's audit event is inserted only
 * while the key is active; the update then revokes exactly the keys whose
 * event this batch inserted, and the change log records exactly those. So of
 * concurrent revokes, whatever their reasons, only the first is recorded (the
 * unique index on revoke events is the second line), and revokedAt,
 * revokedBy and the reason never change afterwards. A change with
 * `unusedSince` is skipped the same way if the key was used since.
 */
function revokeStatements(db: Db, changes: RevokeChange[], actor: Actor, at: number) {
  const by = audited(actor);
  const events = changes.map((c) => auditRow("api_key.revoked", by, c.workspaceId, c.keyId, at, { reason: c.reason, ...c.details }));
  const reason = changes[0]!.reason;
  const revokes = JSON.stringify(
    events.map((e, i) => [e.targetKeyId, e.workspaceId, e.id, JSON.stringify(e.details), changes[i]!.unusedSince ?? null]),
  );
  const inserted = sql`select e.target_key_id from ${auditEvents} e where e.id in (select r.value ->> 2 from json_each(${revokes}) r)`;
  return [
    // Columns in audit_events' own order: id, workspace, action, actor, key, client ip, user agent, time, details.
    db.insert(auditEvents).select(
      sql`select r.value ->> 2, k.workspace_id, 'api_key.revoked', ${by.actorId}, k.id, ${by.clientIp}, ${by.userAgent}, ${at}, r.value ->> 3
          from json_each(${revokes}) r join ${apiKeys} k on k.id = r.value ->> 0 and k.workspace_id = r.value ->> 1
          where k.revoked_at is null
            and (r.value ->> 4 is null or coalesce(k.last_used_at, k.created_at) = r.value ->> 4)`,
    ),
    db
      .update(apiKeys)
      .set({ revokedAt: at, revokedBy: by.actorId, revocationReason: reason, version: nextVersion })
      .where(sql`${apiKeys.id} in (${inserted}) and ${apiKeys.revokedAt} is null`),
    db.insert(keyChanges).select(
      sql`select ${changeColumns("revoked", at, by.actorId, sql`e.details`)}
          from ${auditEvents} e join ${apiKeys} k on k.id = e.target_key_id
          where e.id in (select r.value ->> 2 from json_each(${revokes}) r)`,
    ),
  ];
}

const REVOKE_OPS: Record<RevocationReason, string> = {
  admin: "revoke_key",
  self: "self_revoke_key",
  leaked: "revoke_leaked_keys",
  idle: "revoke_idle_keys",
};

function planRevoke(db: Db, change: RevokeChange, actor: Actor, now: number): Plan<{ row: ApiKeyRow }> {
  return {
    op: REVOKE_OPS[change.reason],
    statements: [...revokeStatements(db, [change], actor, now), selectKey(db, change.workspaceId, change.keyId)],
    settle: (results) => {
      const row = (results.at(-1) as ApiKeyRow[])[0];
      // A self-revoke's key was verified a moment ago and keys are never
      // deleted: only a storage fault could get here, and it must not look like success.
      if (!row || row.revokedAt === null) throw notFound("No API key with this id in this workspace.");
      return { committed: { changed: [row], created: [] }, result: { row } };
    },
  };
}

/** The columns of a key that has just been made, whether created or rolled. */
function freshKey(key: string, actor: Actor, now: number, expiresAt: number | null, rolledFrom: string | null): Omit<ApiKeyRow, Inherited> {
  return {
    id: newId("key"),
    prefix: displayPrefix(key),
    keyHash: hashKey(key),
    createdAt: now,
    createdBy: actorId(actor),
    lastUsedAt: null,
    expiresAt,
    revokedAt: null,
    revokedBy: null,
    revocationReason: null,
    rolledFrom,
    rolledTo: null,
    lastUsedIp: null,
    lastUsedCountry: null,
    usedAfterRevokeAt: null,
    version: 1,
    budgetId: null,
    kvVersion: null,
  };
}

// --- roll -------------------------------------------------------------------

/**
 * What the new key takes from the old one, read inside the database by the
 * insert itself: the roll never reads the old key first and writes after, so
 * nothing can change between a read and the write.
 */
const INHERITED = ["workspaceId", "name", "scopes", ...GUARD_RAIL_FIELDS.filter((f) => GUARD_RAILS[f].rollInherits)];
type Inherited = "workspaceId" | "name" | "scopes" | GuardRailField;

/**
 * Rolls a key: a new key with the old one's name, scopes and the guard rails
 * a roll inherits (allowlist, rate limit), and the old key set to stop at the end of the overlap. The new key,
 * the old key's change and both audit events are written together or not at all.
 *
 * Of concurrent rolls of one key exactly one succeeds, decided by the database:
 * the new key is inserted only while the old one is active and not yet rolled
 * (D1 runs batches one at a time), and the partial unique index on rolled_from
 * refuses a second successor should two inserts ever overlap (a 409, not a 503).
 */
function planRoll(db: Db, change: Extract<KeyChange, { kind: "roll" }>, actor: Actor, now: number): Plan<{ row: ApiKeyRow; key: string }> {
  const { workspaceId, keyId: oldId, overlapSeconds } = change;
  const key = generateKey();
  const oldStopsAt = now + overlapSeconds * 1000;
  const fresh: Omit<ApiKeyRow, Inherited> = freshKey(key, actor, now, change.expiresAt, oldId);
  const newKeyExists = keyExists(fresh.id);
  const rolled = auditRow("api_key.rolled", audited(actor), workspaceId, oldId, now, { newKeyId: fresh.id, overlapSeconds });
  // Only an active key that was never rolled can be rolled.
  const rollable = and(
    eq(apiKeys.id, oldId),
    eq(apiKeys.workspaceId, workspaceId),
    sql`${apiKeys.revokedAt} is null and ${apiKeys.rolledTo} is null`,
  )!;
  return {
    op: "roll_key",
    conflicts: { "api_keys.rolled_from": () => new Problem("conflict", "This API key was rolled by a concurrent request.") },
    statements: [
      insertSuccessor(db, fresh, rollable),
      ...auditedChange(db, auditRow("api_key.created", audited(actor), workspaceId, fresh.id, now), newKeyExists),
      insertAuditEventIf(db, rolled, newKeyExists),
      db
        .update(apiKeys)
        // The earlier of the key's own expiry and the end of the overlap: a
        // roll never lets a key live longer than it would have.
        .set({
          rolledTo: fresh.id,
          expiresAt: sql`min(coalesce(${apiKeys.expiresAt}, ${oldStopsAt}), ${oldStopsAt})`,
          version: nextVersion,
        })
        .where(and(eq(apiKeys.id, oldId), eq(apiKeys.workspaceId, workspaceId), newKeyExists)),
      logChange(db, rolled),
      db
        .select()
        .from(apiKeys)
        .where(and(eq(apiKeys.workspaceId, workspaceId), inArray(apiKeys.id, [oldId, fresh.id]))),
    ],
    settle: (results) => {
      const rows = results.at(-1) as ApiKeyRow[];
      const old = rows.find((r) => r.id === oldId);
      const created = rows.find((r) => r.id === fresh.id);
      if (!old) throw notFound("No API key with this id in this workspace.");
      if (!created) throw notRollable(old);
      // The old key's new expiry takes effect like a revoke: at once here, via KV elsewhere.
      return { committed: { changed: [old], created: [created] }, result: { row: created, key } };
    },
  };
}

function notRollable(old: ApiKeyRow): Problem {
  if (old.revokedAt !== null) return new Problem("conflict", "This API key is revoked; it cannot be rolled.");
  return new Problem("conflict", `This API key was already rolled (to ${old.rolledTo ?? "another key"}); roll that key instead.`);
}

/**
 * INSERT INTO api_keys SELECT … FROM api_keys WHERE <old key is rollable>:
 * the inherited columns come from the old row, the rest are the new key's
 * values. Columns are listed in the table's own order, as the insert expects.
 */
function insertSuccessor(db: Db, fresh: Omit<ApiKeyRow, Inherited>, where: SQL) {
  const inherited = new Set<string>(INHERITED);
  const values = fresh as Record<string, unknown>;
  const selected = Object.entries(getTableColumns(apiKeys)).map(([field, column]) => {
    if (inherited.has(field)) return sql`${column}`;
    // The new key draws from the old key's rate-limit budget: while both
    // work (the overlap) they share one limit instead of having one each.
    if (field === "budgetId") return sql`coalesce(${apiKeys.budgetId}, ${apiKeys.id})`;
    return sql`${values[field] ?? null}`;
  });
  return db.insert(apiKeys).select(sql`select ${sql.join(selected, sql`, `)} from ${apiKeys} where ${where}`);
}

// --- update (PATCH) ---------------------------------------------------------

type Changes = Partial<Pick<ApiKeyRow, UpdatableField>>;

const revokedConflict = () => new Problem("conflict", "This API key is revoked; it cannot be changed. Create a new key instead.");

/**
 * Changes a key's name or its patchable guard rails (IP allowlist, rate limit).
 *
 * The key is read first, to answer 404 or 409 and to find which fields the
 * body really changes: those are what the audit event names, and a body that
 * changes nothing writes nothing (no event, no cache write). The write is one
 * D1 batch, the update and its audit event, both conditional on the key
 * being exactly as read and still active; if another change got in between,
 * nothing was written and the comparison starts over from the new state. So
 * every event names precisely the fields its own write changed, and a key
 * revoked meanwhile is answered 409 without a change or an event.
 */
async function update(
  deps: KeyChangeDeps,
  db: Db,
  change: Extract<KeyChange, { kind: "update" }>,
  actor: Actor,
): Promise<{ row: ApiKeyRow }> {
  const { workspaceId, keyId } = change;
  let [current, policy] = await Promise.all([
    storage("get_key", () => selectKey(db, workspaceId, keyId).get()),
    readPolicy(deps.env, workspaceId),
  ]);
  for (let attempt = 1; ; attempt++) {
    if (!current) throw notFound("No API key with this id in this workspace.");
    if (current.revokedAt !== null) throw revokedConflict();
    const changes = changedFields(current, change.fields);
    // The policy binds what the change changes: a field the body leaves as it is (or sets to what it is) is not judged,
    // so a key made before the policy can still be renamed.
    const policed = POLICED_FIELDS.filter((f) => f in changes);
    const { broken } = applyPolicy(policy, { ...current, ...(changes as Partial<PolicedKey>) }, policed);
    if (broken.length > 0) throw policyViolation(broken);
    const fields = UPDATABLE_FIELDS.filter((f) => f in changes);
    if (fields.length === 0) return { row: current };

    const unchanged = sameAs(current);
    const event = auditRow("api_key.updated", audited(actor), workspaceId, keyId, Date.now(), { fields });
    const plan: Plan<{ row: ApiKeyRow }> = {
      op: "update_key",
      statements: [
        // The event goes first: it checks the key as read, before the update changes it.
        insertAuditEventIf(db, event, keyWhere(db, unchanged)),
        db
          .update(apiKeys)
          .set({ ...changes, version: nextVersion })
          .where(unchanged),
        logChange(db, event),
        selectKey(db, workspaceId, keyId),
      ],
      settle: (results) => {
        const updated = results[1] as D1Result;
        const row = (results[3] as ApiKeyRow[])[0];
        if (updated.meta.changes === 1 && row) return { committed: { changed: [row], created: [] }, result: { row } };
        return { retry: row };
      },
    };
    const outcome = await commit(db, plan);
    if (!("retry" in outcome)) {
      await publish(deps, outcome.committed);
      return outcome.result;
    }
    if (attempt === MAX_UPDATE_ATTEMPTS) {
      throw new Problem("conflict", "The key was changed by another request at the same time; read it again and retry.");
    }
    current = outcome.retry;
  }
}

/** The body's fields whose values differ from the row's; the values as they will be stored. */
function changedFields(row: ApiKeyRow, input: KeyUpdate): Changes {
  const changes: Record<string, unknown> = {};
  for (const field of UPDATABLE_FIELDS) {
    const value = input[field];
    if (value === undefined) continue;
    const same =
      field === "name" ? value === row.name : (GUARD_RAILS[field].same as (a: unknown, b: unknown) => boolean)(value, row[field]);
    if (!same) changes[field] = value;
  }
  return changes as Changes;
}

/**
 * The key's row, still active, with the updatable fields exactly as in `row`.
 * A guard rail is stored as JSON and compared as such: json() drops any
 * spacing, and the value read is written back as it was read (JSON.parse and
 * JSON.stringify keep the members' order), so the text drizzle happened to
 * write compares equal to itself and to nothing else.
 */
function sameAs(row: ApiKeyRow): SQL {
  const columns = getTableColumns(apiKeys);
  return and(
    eq(apiKeys.id, row.id),
    eq(apiKeys.workspaceId, row.workspaceId),
    isNull(apiKeys.revokedAt),
    eq(apiKeys.name, row.name),
    ...UPDATABLE_FIELDS.filter((f) => f !== "name").map((field) => {
      const value = row[field];
      return value === null ? isNull(columns[field]) : sql`json(${columns[field]}) = json(${JSON.stringify(value)})`;
    }),
  )!;
}

// --- shared -----------------------------------------------------------------

/** Every write of a change sets the key's version to the next one. */
const nextVersion = sql`${apiKeys.version} + 1`;

const CHANGE_KINDS: Partial<Record<AuditAction, KeyChangeRow["kind"]>> = {
  "api_key.created": "created",
  "api_key.rolled": "rolled",
  "api_key.updated": "updated",
};

/**
 * The change's row in the change log: a statement of the change's own batch,
 * after its writes, so that it records the key's new version. It is inserted
 * only if the change's audit event was, that is only if the change happened:
 * one condition decides both, so there is no change without its log row and
 * no log row without its change. Its delivery to KV is due at once.
 */
function logChange(db: Db, event: AuditEventRow) {
  const details = event.details === null ? null : JSON.stringify(event.details);
  const kind = CHANGE_KINDS[event.action as AuditAction]!;
  return db.insert(keyChanges).select(
    sql`select ${changeColumns(kind, event.createdAt, event.actorId, sql`${details}`)}
      from ${apiKeys} k
      where k.id = ${event.targetKeyId} and k.workspace_id = ${event.workspaceId}
        and exists (select 1 from ${auditEvents} e where e.id = ${event.id})`,
  );
}

/**
 * A change-log row selected from the key `k` after its change, in the
 * columns' own order: the next seq, the key and its new version, the change,
 * nothing delivered yet, and the first delivery due at once.
 */
function changeColumns(kind: KeyChangeRow["kind"], at: number, actor: string, details: SQL): SQL {
  return sql`null, k.id, k.workspace_id, k.version, ${kind}, ${at}, ${actor}, ${details}, null, 0, ${at}, null`;
}

/** The audit event (if `condition` holds) and the change's log row: how a change whose writes come first is recorded. */
const auditedChange = (db: Db, event: AuditEventRow, condition: SQL) => [insertAuditEventIf(db, event, condition), logChange(db, event)];

function selectKey(db: Db, workspaceId: string, id: string) {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, id), eq(apiKeys.workspaceId, workspaceId)));
}

/** True inside the batch once a key with this id exists (here: was inserted by an earlier statement). */
const keyExists = (id: string) => sql`exists (select 1 from ${apiKeys} as successor where successor.id = ${id})`;

/** True inside the batch while a key matches `condition`. */
const keyWhere = (db: Db, condition: SQL) => exists(db.select({ one: sql`1` }).from(apiKeys).where(condition));
