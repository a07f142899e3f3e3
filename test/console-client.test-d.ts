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
import type { ProblemSchema } from "../src/http/openapi";
import type { ProblemCode } from "../src/http/problem";
import type { CreatedKeySchema, CreateKeyBody, KeyListSchema, KeyRecordSchema, ListKeysQuery } from "../src/keys/schemas";
import type { ApiError, CreatedKey, createKey, CreateKeyInput, KeyPage, KeyRecord, KeyStatus, listKeys, Problem, RevokedKey, revokeKey } from "../src/console/app/api";

// Success bodies, as hc<AppType> infers them from the routes.
expectTypeOf<KeyPage>().toEqualTypeOf<z.output<typeof KeyListSchema>>();
expectTypeOf<KeyRecord>().toEqualTypeOf<z.output<typeof KeyRecordSchema>>();
expectTypeOf<CreatedKey>().toEqualTypeOf<z.output<typeof CreatedKeySchema>>();
expectTypeOf<RevokedKey>().toEqualTypeOf<z.output<typeof KeyRecordSchema>>();

// What the console's calls resolve to.
expectTypeOf<typeof listKeys>().returns.resolves.toEqualTypeOf<z.output<typeof KeyListSchema>>();
expectTypeOf<typeof createKey>().returns.resolves.toEqualTypeOf<z.output<typeof CreatedKeySchema>>();
expectTypeOf<typeof revokeKey>().returns.resolves.toEqualTypeOf<z.output<typeof KeyRecordSchema>>();

// What it sends.
expectTypeOf<CreateKeyInput>().toEqualTypeOf<z.input<typeof CreateKeyBody>>();
expectTypeOf<KeyStatus>().toEqualTypeOf<NonNullable<z.input<typeof ListKeysQuery>["status"]>>();

// Refusals: every error status declares the one problem+json shape, with the table's codes.
expectTypeOf<Problem>().toEqualTypeOf<z.output<typeof ProblemSchema>>();
expectTypeOf<Problem["code"]>().toEqualTypeOf<ProblemCode>();
expectTypeOf<ApiError["code"]>().toEqualTypeOf<ProblemCode | "network" | `http_${number}`>();
