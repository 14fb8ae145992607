/**
 * Rate limits, token budgets, USD budgets and in-flight limits for AI-agent APIs, decided in one
 * atomic store call per request: `createLimiter`, its decisions and leases, the `Store` contract and
 * the HTTP layer the framework adapters share.
 *
 * @module @tollgate/core
 */
export { createLimiter } from './limiter.js';
export { CONCURRENCY_RETRY_MS } from './decision.js';
export type { AcquireDecision, AcquireOptions, Limiter, LimiterOptions, WaitOptions } from './limiter.js';
export type { Decision, DecisionReason, LimitState, RequestDecision } from './decision.js';
export type { Demand, Usage } from './demand.js';
export type { Lease, LeaseTotals, RecordOptions, RecordResult, ReleaseOptions } from './lease.js';
export type { Algorithm, LimitConfig, Resource } from './limits.js';
export type { CalendarReset, CalendarUnit } from './calendar.js';
export type { DegradeConfig, DegradeStep, DegradeStepConfig } from './degrade.js';
export type { AnonymousPolicy, LeaseOptions, PolicyConfig, UnknownUsagePolicy } from './policy.js';
export type { Duration } from './duration.js';
export type { BuiltInIdentity, Identity, IdentityValue } from './identity.js';
export { BUILT_IN_SCOPES, MAX_IDENTITY_VALUE_LENGTH, encodeKeyPart } from './identity.js';
export { staticPrices } from './prices.js';
export type { ModelPrice, PriceSource } from './prices.js';
export { UNITS_PER_USD, costUnits, unitsToUsd, usdToUnits } from './money.js';
// For packages built on core (adapters, @tollgate/llm): error messages that read alike.
export { describe as describeValue } from './duration.js';
export { compensation } from './runner.js';

// For framework adapters: the HTTP conventions every adapter shares.
export { createHttpLimit } from './http/admit.js';
export type { Admission, ClientIp, FrameworkHooks, HttpLimitOptions, HttpWarning, TollgateContext, TollgateRefusal } from './http/admit.js';
export { DEFAULT_HEADER_FAMILIES, rateLimitHeaders } from './http/headers.js';
export type { HeaderFamily } from './http/headers.js';
export { ipIdentity } from './http/ip.js';
export { ReleaseOnClose } from './http/release-on-close.js';
export { refusalResponse } from './http/refusal.js';
export type { HttpErrorBody, HttpRefusal } from './http/refusal.js';
export type { StoreErrorPolicy } from './runner.js';
export {
  ConfigurationError,
  InvalidInputError,
  StoreError,
  StoreTimeoutError,
  TollgateError,
  UnknownModelError,
} from './errors.js';

// For store authors: the contract, and the reference engine the memory and SQLite stores share.
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
} from './store.js';
export { ALL_ALGORITHMS } from './store.js';
export { applyBatch } from './engine/index.js';
export { DenyCache } from './deny-cache.js';
export type { DenyCacheOptions } from './deny-cache.js';
export type { CounterTable } from './engine/index.js';
