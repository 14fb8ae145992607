/**
 * Rate limits, token budgets, USD budgets and in-flight limits for AI-agent APIs, decided in one
 * atomic store call per request: `createLimiter`, its decisions and leases, the `Store` contract and
 * the HTTP layer the framework adapters share.
 *
 * @module @tollgate/core
 */
export { createLimiter } from './limiter/limiter.js';
export { CONCURRENCY_RETRY_MS } from './limiter/decision.js';
export type { AcquireDecision, AcquireOptions, Limiter, LimiterOptions, WaitOptions } from './limiter/limiter-types.js';
export type { Decision, DecisionReason, LimitState } from './limiter/decision-types.js';
export type { RequestDecision } from './limiter/limiter-types.js';
export type { Demand, Usage } from './pricing/demand.js';
export type { Lease, LeaseTotals, RecordOptions, RecordResult, ReleaseOptions } from './limiter/lease-types.js';
export type { Algorithm, LimitConfig, Resource } from './policy/limits.js';
export type { CalendarReset, CalendarUnit } from './policy/calendar.js';
export type { DegradeConfig, DegradeStep, DegradeStepConfig } from './policy/degrade.js';
export type { AnonymousPolicy, LeaseOptions, PolicyConfig, UnknownUsagePolicy } from './policy/policy.js';
export type { Duration } from './policy/duration.js';
export type { BuiltInIdentity, Identity, IdentityValue } from './policy/identity.js';
export { BUILT_IN_SCOPES, MAX_IDENTITY_VALUE_LENGTH, encodeKeyPart } from './policy/identity.js';
export { staticPrices } from './pricing/prices.js';
export type { ModelPrice, PriceSource } from './pricing/prices.js';
export { UNITS_PER_USD, costUnits, unitsToUsd, usdToUnits } from './pricing/money.js';
// For packages built on core (adapters, @tollgate/llm): error messages that read alike.
export { describeValue } from './util/describe-value.js';
export { compensation } from './store/compensation.js';

// For framework adapters: the HTTP conventions every adapter shares.
export { createHttpLimit } from './http/admit.js';
export type { Admission, ClientIp, FrameworkHooks, HttpLimitOptions, HttpWarning, TollgateContext, TollgateRefusal } from './http/types.js';
export { DEFAULT_HEADER_FAMILIES, rateLimitHeaders } from './http/headers.js';
export type { HeaderFamily } from './http/headers.js';
export { ipIdentity } from './http/ip.js';
export { ReleaseOnClose } from './http/release-on-close.js';
export { refusalResponse } from './http/refusal.js';
export type { HttpErrorBody, HttpRefusal } from './http/refusal.js';
export type { StoreErrorPolicy } from './store/failure-policy.js';
export {
  ConfigurationError,
  errorPrefix,
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
} from './store/contract.js';
export { ALL_ALGORITHMS } from './store/contract.js';
export { applyBatch } from './store/engine/index.js';
export { DenyCache } from './store/deny-cache.js';
export type { DenyCacheOptions } from './store/deny-cache.js';
export type { CounterTable } from './store/engine/index.js';
