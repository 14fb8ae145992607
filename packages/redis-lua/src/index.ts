/**
 * The Lua engine the Redis stores share, and the TypeScript side of it. Bundled into
 * `@tollgate/store-redis` and `@tollgate/store-upstash`; never published on its own.
 *
 * - `engine.ts`: the engine, a Lua script applying a batch atomically inside Redis (`ENGINE_LUA`).
 * - `protocol.ts`: the numbers the script and the encoder share, written once; the script gets
 *   them as Lua locals.
 * - `codec.ts`: a batch as the script's KEYS and ARGV, and its reply as a result.
 * - `transport.ts`: a store's way to the script through its client (EVALSHA, EVAL when the
 *   server lacks it), with failures as `StoreError`s.
 * - `prefix.ts`, `sha1.ts`: the store prefix's check, and the script's SHA without `node:crypto`.
 */
import { ENGINE_LUA } from './engine.js';
import { sha1Hex } from './sha1.js';

export { ENGINE_LUA };
export { checkPrefix } from './prefix.js';
export { asStoreError, createTransport, type Transport, type TransportOptions } from './transport.js';

/** The engine script's SHA-1, as `SCRIPT LOAD` reports it: the name EVALSHA calls it by. */
export const ENGINE_SHA = sha1Hex(ENGINE_LUA);
