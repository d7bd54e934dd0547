import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests start their own mariadbd / nginx instances; give them room on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Pulumi mocks are process-global (setMocks replaces the previous call), so every
    // test file runs in its own fork.
    pool: "forks",
    maxWorkers: 2,
  },
});
