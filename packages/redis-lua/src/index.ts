import { ENGINE_LUA } from './engine.js';
import { sha1Hex } from './sha1.js';

export { ENGINE_LUA };
export { asStoreError, checkPrefix, createEngine, type Engine, type EngineOptions } from './script.js';

/** The engine script's SHA-1, as `SCRIPT LOAD` reports it: the name EVALSHA calls it by. */
export const ENGINE_SHA = sha1Hex(ENGINE_LUA);
