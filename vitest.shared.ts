import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Tests import sibling packages from source, so editing core and running a store's tests needs no
 * rebuild. Each `@tollgate/<dir>` maps to `packages/<dir>/src/index.ts`, and each subpath export
 * `@tollgate/<dir>/<name>` whose source is a folder to `packages/<dir>/src/<name>/index.ts`
 * (`@tollgate/core/store`, `@tollgate/core/http`).
 */
const sourceAliases = readdirSync(packagesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(`${packagesDir}${entry.name}/package.json`))
  .flatMap(({ name }) => {
    const { exports = {} } = JSON.parse(readFileSync(`${packagesDir}${name}/package.json`, 'utf8')) as { exports?: Record<string, unknown> };
    const subpaths = Object.keys(exports)
      .map((key) => key.slice(2))
      .filter((sub) => sub !== '' && existsSync(`${packagesDir}${name}/src/${sub}/index.ts`));
    return [
      { find: new RegExp(`^@tollgate/${name}$`), replacement: `${packagesDir}${name}/src/index.ts` },
      ...subpaths.map((sub) => ({ find: new RegExp(`^@tollgate/${name}/${sub}$`), replacement: `${packagesDir}${name}/src/${sub}/index.ts` })),
    ];
  });

export function defineProject(overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: { alias: sourceAliases },
    // Generous timeouts: CI runs every package's tests, type checks and builds at once on two
    // cores. They bound a hang; no test asserts on time.
    test: { include: ['test/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000, ...overrides },
  });
}
