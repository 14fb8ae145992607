import { defineConfig } from 'tsup';
import { baseConfig } from '../../tsup.base.ts';

export default defineConfig({
  ...baseConfig,
  // `@tollgate/core/store` for store authors and `@tollgate/core/http` for framework adapters: each
  // needs only its part of the package.
  entry: { index: 'src/index.ts', store: 'src/store/index.ts', http: 'src/http/index.ts' },
  // One copy of the code the entries share, so that an error thrown through one entry is
  // `instanceof` the class another exports.
  splitting: true,
});
