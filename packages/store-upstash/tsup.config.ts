import { defineConfig } from 'tsup';
import { baseConfig } from '../../tsup.base.ts';

// The Lua engine lives once in the tree (packages/redis-lua) and is bundled into each Redis store.
export default defineConfig({ ...baseConfig, noExternal: ['@tollgate/redis-lua'] });
