export { ENGINE_LUA } from './engine.js';
export { decodeReply, encodeBatch, type EncodedBatch } from './batch.js';
