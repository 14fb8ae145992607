import { ENGINE_LUA } from './engine.js';
import { sha1Hex } from './sha1.js';

export { ENGINE_LUA };
export { decodeReply, encodeBatch, type EncodedBatch } from './batch.js';
export { asStoreError, checkPrefix, evalWithFallback } from './script.js';

/** The engine script's SHA-1, as `SCRIPT LOAD` reports it: the name EVALSHA calls it by. */
export const ENGINE_SHA = sha1Hex(ENGINE_LUA);
