import { defineConfig } from 'vitest/config';

// Unlike the packages' tests, no aliases to sources: the gateway is tested as it runs, on the built
// packages (turbo's `test` task builds them first).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
});
