import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            SESSION_SECRET: "test-session-secret-0123456789abcdef",
            TEST_MIGRATIONS: migrations,
            // Send each use to the recorder at once; tests of coalescing set their own window.
            LAST_USED_COALESCE_MS: "0",
          },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/apply-migrations.ts"],
      // One info line per request is the worker's access log: keep it out of the
      // test output (tests that check logs spy on console); warnings and errors stay.
      onConsoleLog: (line: string) => !(line.startsWith('{"level":"info","event":"request"')),
    },
  };
});
