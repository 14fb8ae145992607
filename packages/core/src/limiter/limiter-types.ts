import type { Decision, LimitState } from './decision-types.js';
import type { Lease } from './lease-types.js';
import type { DegradeConfig, DegradeStep } from '../policy/degrade.js';
import type { Duration } from '../policy/duration.js';
import type { Identity } from '../policy/identity.js';
import type { LimitConfig } from '../policy/limits.js';
import type { AnonymousPolicy, LeaseOptions, PolicyConfig } from '../policy/policy.js';
import type { PriceSource } from '../pricing/prices.js';
import type { Store } from '../store/contract.js';
import type { StoreErrorPolicy } from '../store/failure-policy.js';
import type { Demand } from '../pricing/demand.js';

/**
 * Options of `createLimiter`.
 *
 * @example
 * createLimiter({
 *   store: new MemoryStore(),
 *   limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' }],
 * })
 */
export interface LimiterOptions<Scope extends string = string> {
  /** Where counters live: `MemoryStore`, `RedisStore`, `UpstashStore`, `SqliteStore`. */
  store: Store;
  /**
   * The limits every caller is held to, or a function of the identity returning them (return the
   * same array object for the same policy so its compiled form is reused). With `tiers`, an array
   * here applies to every tier in addition to the tier's own limits.
   */
  limits?: LimitConfig[] | ((identity: Identity<Scope>) => LimitConfig[] | Promise<LimitConfig[]>);
  /** The degradation ladder (a tier's own `degrade` replaces it). */
  degrade?: DegradeConfig;
  /**
   * A policy per tier, chosen by `tierOf`.
   * @example { free: { limits: [...] }, pro: { limits: [...], degrade: {...} } }
   */
  tiers?: Record<string, PolicyConfig>;
  /** Picks the caller's tier (often a database read); the answer is cached per identity for `tierCacheTtl`. */
  tierOf?: (identity: Identity<Scope>) => string | Promise<string>;
  /**
   * How long a `tierOf` answer is reused, so a tier change takes effect within this.
   * @default '1m'
   */
  tierCacheTtl?: Duration;
  /** Prices models for cost reservations and records. `@tollgate/llm` provides a maintained table. */
  prices?: PriceSource;
  /** Lease defaults: TTL, `maxSteps`, `maxToolCalls`, `onUnknownUsage`. */
  lease?: LeaseOptions;
  /**
   * The longest a store call may take before `onStoreError` applies.
   * @default 1000
   */
  timeoutMs?: number;
  /**
   * What a decision does when the store fails or times out. The default refuses, because an outage
   * must not become an unmetered spending window; `'local'` keeps enforcing per process.
   * @default 'deny'
   */
  onStoreError?: StoreErrorPolicy;
  /** The in-process store `onStoreError: 'local'` decides against (e.g. `new MemoryStore()`). */
  localStore?: Store;
  /**
   * The time source (epoch ms): picks calendar periods and expires tier answers. Stores that have
   * their own time (Redis) count windows on theirs.
   * @default Date.now
   */
  clock?: () => number;
  /**
   * Namespaces this limiter's keys, so limiters sharing a store do not share counters.
   * @default 'tollgate'
   */
  prefix?: string;
  /**
   * Custom scopes, besides the built-in `user`, `apiKey`, `ip`, `session` and `global`. A limit
   * keyed on any other scope is a `ConfigurationError`, and an identity with any other field an
   * `InvalidInputError`: a typo never turns a limit off.
   * @default []
   * @example { scopes: ['team', 'org'] }
   */
  scopes?: Scope[];
  /**
   * What a caller whose identity matches none of the policy's limits gets (an `identify` that found
   * no user, a scope its identity lacks): `'refuse'` decides `allowed: false` with
   * `reason: 'no-identity'`; `'allow'` lets them through unlimited. A tier's `anonymous` overrides it.
   * @default 'refuse'
   * @example { anonymous: 'allow' } // public routes where limits key on a user when there is one
   */
  anonymous?: AnonymousPolicy;
}

/** A decision on a request: also the tier and the degradation step to apply. */
export interface RequestDecision extends Decision {
  /** The caller's tier, when the limiter has tiers. */
  tier?: string;
  /** The degradation step for this request, when the policy has a ladder whose budget applies. */
  degrade?: DegradeStep;
  /** On `acquire`, when allowed: the lease holding the request's reservation. */
  lease?: Lease;
}

/** A decision on `acquire`: when allowed, it carries the lease. */
export type AcquireDecision = (RequestDecision & { allowed: true; lease: Lease }) | (RequestDecision & { allowed: false; lease?: undefined });

/** Per-request overrides of the lease defaults. */
export type AcquireOptions = LeaseOptions;

/** A limiter; `Scope` names its custom scopes, so an identity with another field does not compile. */
export interface Limiter<Scope extends string = string> {
  /**
   * Decides on a request and, when every limit admits it, charges it: one request, the estimated
   * tokens and cost (reserved on the returned lease) and a concurrency slot. All or nothing: a
   * refusal charges nothing anywhere.
   */
  acquire(identity: Identity<Scope>, demand?: Demand, options?: AcquireOptions): Promise<AcquireDecision>;
  /** The same evaluation as `acquire`, charging nothing; `remaining` is as it stands before the demand. */
  check(identity: Identity<Scope>, demand?: Demand): Promise<RequestDecision>;
  /** Every applicable limit as it stands (dashboards). Throws `StoreError` when the store fails. */
  usage(identity: Identity<Scope>): Promise<LimitState[]>;
  /** Clears the caller's counters of one limit, or of all its limits. Throws `StoreError` when the store fails. */
  reset(identity: Identity<Scope>, limitName?: string): Promise<void>;
  /**
   * `acquire`, waiting while it is refused for as long as each refusal says, up to `timeoutMs`:
   * for a background job that would rather wait its turn than fail. Returns the first admission,
   * or the last refusal once the next wait would pass the timeout (at once for a refusal that no
   * wait can cure: a demand larger than a limit, an unidentified caller).
   */
  waitFor(identity: Identity<Scope>, demand: Demand | undefined, options: WaitOptions): Promise<AcquireDecision>;
}

/**
 * Options of `limiter.waitFor`: how long to wait at most, and the lease options of `acquire`.
 *
 * @example { timeoutMs: 30_000, signal: AbortSignal.timeout(60_000) }
 */
export interface WaitOptions extends AcquireOptions {
  /** The longest to wait for an admission, in ms. */
  timeoutMs: number;
  /**
   * Stops waiting when it aborts: the promise rejects with the signal's reason.
   * @default undefined
   */
  signal?: AbortSignal;
}
