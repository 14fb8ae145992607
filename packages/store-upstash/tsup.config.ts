import { defineConfig } from 'tsup';
import { baseConfig } from '../../tsup.base.ts';

// The Lua engine lives once in the tree (packages/redis-lua) and is bundled into each Redis store,
// its types too: the package is private, so a declaration importing it would not resolve for users.
export default defineConfig({ ...baseConfig, noExternal: ['@tollgate/redis-lua'], dts: { resolve: ['@tollgate/redis-lua'] } });
