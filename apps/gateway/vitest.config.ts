import { defineConfig } from 'vitest/config';

// Unlike the packages' tests, no aliases to sources: the gateway is tested as it runs, on the built
// packages (turbo's `test` task builds them first). Generous timeouts bound a hang under CI load,
// where processes and a browser start beside every other package's tests; no test asserts on time.
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
});
