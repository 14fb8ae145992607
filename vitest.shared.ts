import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Tests import sibling packages from source, so editing core and running a store's tests needs no
 * rebuild. Each `@tollgate/<dir>` maps to `packages/<dir>/src/index.ts`.
 */
const sourceAliases = readdirSync(packagesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => ({
    find: new RegExp(`^@tollgate/${entry.name}$`),
    replacement: `${packagesDir}${entry.name}/src/index.ts`,
  }));

export function defineProject(overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: { alias: sourceAliases },
    // Generous timeouts: CI runs every package's tests, type checks and builds at once on two
    // cores. They bound a hang; no test asserts on time.
    test: { include: ['test/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000, ...overrides },
  });
}
