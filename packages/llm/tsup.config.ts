import { defineConfig } from 'tsup';
import { baseConfig } from '../../tsup.base.ts';

export default defineConfig({
  ...baseConfig,
  entry: { index: 'src/index.ts', 'ai-sdk': 'src/ai-sdk-middleware.ts' },
  // One copy of the code both entries share, so that an error thrown by one is `instanceof` the
  // class the other exports, and the price table loads once.
  splitting: true,
});
