import type { Options } from 'tsup';

/** The build every published package shares: ESM + CJS with matching type declarations. */
export const baseConfig: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  splitting: false,
  treeshake: true,
};
