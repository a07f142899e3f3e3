import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { buildConsole } from "./scripts/build-console.mjs";

export default defineConfig(async () => {
  // The console's static assets ([assets] in wrangler.toml): the Workers pool
  // serves them as env.ASSETS but, unlike wrangler, does not run [build].
  await buildConsole();
  const migrations = await readD1Migrations("./migrations");
  return {
    test: {
      // One info line per request is the worker's access log: keep it out of the
      // test output (tests that check logs spy on console); warnings and errors stay.
      // (A root option: vitest ignores it inside a project.)
      onConsoleLog: (line: string) => !line.startsWith('{"level":"info","event":"request"'),
      // Two test files at a time, whatever the core count (vitest's default is one fewer worker than
      // cores: one, on a 2-core CI machine). Much of a file's time is its own runtime starting and its
      // modules loading, which overlap well; each file keeps its own storage, so none sees another's.
      maxWorkers: 2,
      projects: [
        {
          // Tests inside workerd, against real D1, KV and Durable Objects.
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  SESSION_SECRET: "test-session-secret-0123456789abcdef",
                  TEST_MIGRATIONS: migrations,
                  // Send each use to the recorder at once; tests of coalescing set their own window.
                  LAST_USED_COALESCE_MS: "0",
                  // A key that seals webhook signing secrets (test only), as `npm run dev` writes one into .dev.vars.
                  WEBHOOK_SECRET_KEYS: "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                  // Production's URL rules, whatever a local .dev.vars (which the pool reads too) says; tests of local URLs set it.
                  WEBHOOK_ALLOW_LOCAL_URLS: "false",
                },
                // The webhook queues without their 1 s batching wait, so end-to-end tests see a delivery within
                // milliseconds. An entry replaces wrangler.toml's whole entry: the other settings are repeated.
                queueConsumers: {
                  "owlish-webhook-deliveries": {
                    maxBatchSize: 10,
                    maxBatchTimeout: 0,
                    maxRetries: 50,
                    retryDelay: 60,
                    deadLetterQueue: "owlish-webhook-deliveries-dlq",
                  },
                  "owlish-webhook-deliveries-dlq": { maxBatchSize: 10, maxBatchTimeout: 0, maxRetries: 10, retryDelay: 60 },
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/browser/**"],
            setupFiles: ["./test/support/apply-migrations.ts", "./test/support/no-network.ts"],
            // A timeout only catches a hang; no test asserts how long anything took. On a
            // loaded 2-core CI machine a test runs several times slower than on an idle
            // one, so vitest's 5 s default would fail tests for the machine's speed.
            testTimeout: 30_000,
            hookTimeout: 30_000,
          },
        },
        {
          // Node: checks over the repository's own files (docs/configuration.md against the code and wrangler.toml).
          test: {
            name: "repo",
            environment: "node",
            include: ["test/repo/**/*.test.mjs"],
          },
        },
        {
          // Node: Debian's Chromium (playwright-core) against the worker run by `wrangler dev`.
          test: {
            name: "browser",
            environment: "node",
            include: ["test/browser/**/*.test.mjs"],
            globalSetup: ["./test/browser/global-setup.mjs"],
            testTimeout: 60_000,
            hookTimeout: 120_000,
            // Pages wait on a real worker; on a busy 2-core CI box 1 s (the default) is too tight.
            expect: { poll: { timeout: 15_000, interval: 100 } },
          },
        },
      ],
    },
  };
});
