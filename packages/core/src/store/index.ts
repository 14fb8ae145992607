/**
 * For store authors: the contract a store implements (`Store`, the batch it applies and the result it
 * returns), the reference engine that defines what every store must decide (`applyBatch`), the deny
 * cache for stores that pay a round trip per decision, and `compensation` for stores that split a
 * decision. Run `@tollgate/store-test-suite` on a new store.
 *
 * @module @tollgate/core/store
 */
export type {
  Adjustment,
  AlgorithmType,
  Charge,
  Counter,
  CounterAlgorithm,
  CounterReading,
  IdentityKey,
  Store,
  StoreBatch,
  StoreCapabilities,
  StoreResult,
} from './contract.js';
export { ALL_ALGORITHMS } from './contract.js';
export { applyBatch } from './engine/index.js';
export type { CounterTable } from './engine/index.js';
export { DenyCache } from './deny-cache.js';
export type { DenyCacheOptions } from './deny-cache.js';
export { compensation } from './compensation.js';
export { ConfigurationError, errorPrefix, StoreError, StoreTimeoutError, TollgateError } from '../errors.js';
