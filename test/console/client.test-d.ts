/**
 * The console's view of the API is the routes' own: each body the console's
 * calls resolve to, and the problem it reads from a refusal, is exactly the
 * zod schema the server answers with. Checked by tsc (`npm run typecheck`,
 * the console's project: src/console/app/tsconfig.json), so renaming or
 * retyping a response field fails the build until the console follows
 * (the console's code then fails at each use of the old field).
 */
import { expectTypeOf } from "vitest";
import type { z } from "zod";
import type {
  ApiError,
  CreatedKey,
  CreateKeyInput,
  createKey,
  getKey,
  KeyPage,
  KeyRecord,
  KeyStatus,
  keyAuditEvents,
  keyUsage,
  listKeys,
  Problem,
  RevokedKey,
  RollKeyInput,
  revokeKey,
  rollKey,
  UpdateKeyInput,
  updateKey,
  workspaceUsage,
} from "../../src/console/app/api";
import type { ProblemSchema } from "../../src/http/openapi";
import type { ProblemCode } from "../../src/http/problem";
import type { CreateKeyBody } from "../../src/routes/api-keys/create";
import type { RollKeyBody } from "../../src/routes/api-keys/roll";
import type { CreatedKeySchema, KeyListSchema, KeyRecordSchema, ListKeysQuery } from "../../src/routes/api-keys/schemas";
import type { UpdateKeyBody } from "../../src/routes/api-keys/update";
import type { KeyUsageSchema } from "../../src/routes/api-keys/usage";
import type { AuditEventListSchema } from "../../src/routes/audit-events/list";
import type { WorkspaceUsageSchema } from "../../src/routes/key-usage/list";

// Success bodies, as hc<AppType> infers them from the routes.
expectTypeOf<KeyPage>().toEqualTypeOf<z.output<typeof KeyListSchema>>();
expectTypeOf<KeyRecord>().toEqualTypeOf<z.output<typeof KeyRecordSchema>>();
expectTypeOf<CreatedKey>().toEqualTypeOf<z.output<typeof CreatedKeySchema>>();
expectTypeOf<RevokedKey>().toEqualTypeOf<z.output<typeof KeyRecordSchema>>();

// What the console's calls resolve to.
expectTypeOf<typeof listKeys>().returns.resolves.toEqualTypeOf<z.output<typeof KeyListSchema>>();
expectTypeOf<typeof createKey>().returns.resolves.toEqualTypeOf<z.output<typeof CreatedKeySchema>>();
expectTypeOf<typeof revokeKey>().returns.resolves.toEqualTypeOf<z.output<typeof KeyRecordSchema>>();
expectTypeOf<typeof getKey>().returns.resolves.toEqualTypeOf<z.output<typeof KeyRecordSchema>>();
expectTypeOf<typeof updateKey>().returns.resolves.toEqualTypeOf<z.output<typeof KeyRecordSchema>>();
expectTypeOf<typeof rollKey>().returns.resolves.toEqualTypeOf<z.output<typeof CreatedKeySchema>>();
expectTypeOf<typeof keyUsage>().returns.resolves.toEqualTypeOf<z.output<typeof KeyUsageSchema>>();
expectTypeOf<typeof workspaceUsage>().returns.resolves.toEqualTypeOf<z.output<typeof WorkspaceUsageSchema>>();
// (An event's `details` is JSON of any shape, which the client types its own way; the rest is the schema's.)
expectTypeOf<Omit<Awaited<ReturnType<typeof keyAuditEvents>>["data"][number], "details">>().toEqualTypeOf<
  Omit<z.output<typeof AuditEventListSchema>["data"][number], "details">
>();

// What it sends.
expectTypeOf<CreateKeyInput>().toEqualTypeOf<z.input<typeof CreateKeyBody>>();
expectTypeOf<UpdateKeyInput>().toEqualTypeOf<z.input<typeof UpdateKeyBody>>();
expectTypeOf<RollKeyInput>().toEqualTypeOf<z.input<typeof RollKeyBody>>();
expectTypeOf<KeyStatus>().toEqualTypeOf<NonNullable<z.input<typeof ListKeysQuery>["status"]>>();

// Refusals: every error status declares the one problem+json shape, with the table's codes.
expectTypeOf<Problem>().toEqualTypeOf<z.output<typeof ProblemSchema>>();
expectTypeOf<Problem["code"]>().toEqualTypeOf<ProblemCode>();
expectTypeOf<ApiError["code"]>().toEqualTypeOf<ProblemCode | "network" | `http_${number}`>();
