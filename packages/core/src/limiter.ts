import { DecisionRecord, evaluate, failedDecision, type Applicable, type LimitState, type RequestDecision } from './decision.js';
import { demandUnits, reservedCost, type Demand, type DemandUnits } from './demand.js';
import { describe, type Duration } from './duration.js';
import { ConfigurationError, InvalidInputError } from './errors.js';
import { encodeKeyPart, identityValue, KnownScopes, type Identity } from './identity.js';
import { TollgateLease, type Lease, type LeaseContext } from './lease.js';
import { ScopedIdentityKey, scopeKeys, type CompiledLimit, type LimitConfig, type ScopeKeys } from './limits.js';
import {
  PolicyResolver,
  resolveLeaseOptions,
  type AnonymousPolicy,
  type CompiledPolicy,
  type LeaseOptions,
  type PolicyConfig,
  type ResolvedLeaseOptions,
} from './policy.js';
import { Pricer, type PriceSource } from './prices.js';
import { StoreRunner, type Failure, type Outcome, type StoreErrorPolicy } from './runner.js';
import type { Adjustment, Charge, Counter, CounterAlgorithm, IdentityKey, Store, StoreResult } from './store.js';
import { andThen, isPromise, toPromise, type MaybePromise } from './sync.js';
import type { DegradeConfig } from './degrade.js';
import { acquireNow, scopesUsed, type InternalLimiter } from './internal.js';

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

const PREFIX = /^[A-Za-z0-9_.-]{1,64}$/;
/** Not frozen: V8 iterates frozen arrays on a slower path. `readonly` keeps it empty. */
const NO_ADJUSTMENTS: readonly Adjustment[] = [];

/**
 * One applicable limit of one call: the limit, the identity it counts under, its counter, and what
 * the call charges it (set once the demand is priced). One object serves as the `Applicable` the
 * decision reads, the `Charge` the store applies and the `Counter` that charge names: a decision
 * builds one object per limit, not two.
 */
class AppliedLimit implements Applicable, Charge, Counter {
  amount = 0;
  leaseId: string | undefined = undefined;
  readonly field: string;
  readonly algorithm: CounterAlgorithm;

  constructor(
    readonly limit: CompiledLimit,
    readonly identity: IdentityKey,
    now: number,
    ttlMs: number,
  ) {
    this.field = limit.field;
    this.algorithm = limit.algorithm(now, ttlMs);
  }

  get counter(): Counter {
    return this;
  }
}

/** What an acquire carries from building its batch to reading the store's answer. */
interface AcquireRequest {
  readonly policy: CompiledPolicy;
  readonly applicable: AppliedLimit[];
  readonly charges: AppliedLimit[];
  readonly units: DemandUnits;
  readonly cost: number;
  readonly leaseOptions: ResolvedLeaseOptions;
  readonly leaseId: string | undefined;
}

/** Creates a limiter. Throws `ConfigurationError` for anything malformed, before any request. */
export function createLimiter<const Scope extends string = never>(options: LimiterOptions<Scope>): Limiter<Scope> {
  return new TollgateLimiter(options as LimiterOptions);
}

class TollgateLimiter implements Limiter, InternalLimiter {
  private readonly policies: PolicyResolver;
  private readonly runner: StoreRunner;
  private readonly pricer: Pricer;
  private readonly clock: () => number;
  private readonly prefix: string;
  private readonly leaseContext: LeaseContext;
  private readonly scopes = new Map<string, ScopeKeys>();
  private readonly knownScopes: KnownScopes;
  readonly [scopesUsed]: ReadonlySet<string> | undefined;
  /** For leases whose decision was made by the local fallback store: they settle there. */
  private readonly localLeaseContext: LeaseContext | undefined;

  constructor(options: LimiterOptions) {
    if (typeof options !== 'object' || options === null) throw new ConfigurationError(`createLimiter needs options, got ${describe(options)}`);
    const { store, timeoutMs = 1000, onStoreError = 'deny', localStore, clock = Date.now, prefix = 'tollgate' } = options;
    if (!isStore(store)) throw new ConfigurationError('store must be a Tollgate store (e.g. new MemoryStore())');
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new ConfigurationError(`timeoutMs must be a positive number of ms, got ${describe(timeoutMs)}`);
    }
    if (!['deny', 'allow', 'local'].includes(onStoreError)) {
      throw new ConfigurationError(`onStoreError must be 'deny', 'allow' or 'local', got ${describe(onStoreError)}`);
    }
    if (onStoreError === 'local' && !isStore(localStore)) {
      throw new ConfigurationError("onStoreError: 'local' needs localStore, an in-process store such as new MemoryStore()");
    }
    if (typeof clock !== 'function') throw new ConfigurationError('clock must be a function returning epoch ms');
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
      throw new ConfigurationError(`prefix must be 1-64 letters, digits, "_", "." or "-", got ${describe(prefix)}`);
    }
    const stores = onStoreError === 'local' ? [store, localStore!] : [store];
    this.knownScopes = new KnownScopes(options.scopes);
    this.policies = new PolicyResolver(options, stores, clock, this.knownScopes);
    this[scopesUsed] = this.policies.scopesUsed();
    this.runner = new StoreRunner(store, timeoutMs, onStoreError, localStore);
    this.pricer = new Pricer(options.prices);
    this.clock = clock;
    this.leaseContext = { runner: this.runner, pricer: this.pricer, clock };
    if (onStoreError === 'local') this.localLeaseContext = { runner: this.runner.local(), pricer: this.pricer, clock };
    this.prefix = prefix;
  }

  acquire(identity: Identity, demand?: Demand, options?: AcquireOptions): Promise<AcquireDecision> {
    // Not `async`, and no closure: an in-process decision resolves one promise and allocates little.
    try {
      const decision = this[acquireNow](identity, demand, options);
      return isPromise(decision) ? decision : Promise.resolve(decision);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  [acquireNow](identity: Identity, demand?: Demand, options?: AcquireOptions): MaybePromise<AcquireDecision> {
    const units = demandUnits(demand);
    const policy = this.policies.resolve(identity);
    return isPromise(policy)
      ? policy.then((resolved) => this.acquireWith(resolved, identity, units, options))
      : this.acquireWith(policy, identity, units, options);
  }


  private acquireWith(policy: CompiledPolicy, identity: Identity, units: DemandUnits, options: AcquireOptions | undefined): MaybePromise<AcquireDecision> {
    const leaseOptions = resolveLeaseOptions(options, policy.lease, 'acquire options');
    const applicable = this.applicable(policy, identity, this.clock(), leaseOptions.ttlMs);
    if (applicable.length === 0 && refusesAnonymous(policy)) return noIdentity(policy) as AcquireDecision;
    const cost = reservedCost(units, this.pricer, policy.hasCost && applicable.some(isCost));
    // A concurrency slot is held under the lease's id, so it is drawn now only when one applies.
    const leaseId = policy.hasConcurrency ? crypto.randomUUID() : undefined;
    for (let i = 0; i < applicable.length; i++) charge(applicable[i]!, units, cost, leaseId);
    // Tool calls are charged by lease.tool(), not by the request.
    const charges = policy.hasToolCalls ? applicable.filter(isCharged) : applicable;
    const request: AcquireRequest = { policy, applicable, charges, units, cost, leaseOptions, leaseId };
    return this.runner.decide({ charges, dryRun: false, adjustments: NO_ADJUSTMENTS }, (outcome) => this.acquired(request, outcome));
  }

  /** Turns the store's answer on an acquire into the decision, with a lease when allowed. */
  private acquired(request: AcquireRequest, outcome: Outcome): AcquireDecision {
    const { policy, applicable, units, leaseOptions, leaseId } = request;
    if (outcome.kind === 'failed') {
      const decision = this.failed(policy, outcome.failure);
      // Admitted without counting: the lease reserves nothing, so every record is charged in full.
      if (decision.allowed) decision.lease = new TollgateLease(this.leaseContext, applicable, leaseOptions, units.model, leaseId, undefined);
      return decision as AcquireDecision;
    }
    const { result, store, failure } = outcome;
    const decision = this.requestDecision(policy, request.charges, result, true, failure);
    if (decision.allowed) {
      const context = store === this.runner.store ? this.leaseContext : this.localLeaseContext!;
      const reservation = { at: result.now, tokens: units.tokens, cost: request.cost, requests: units.requests };
      decision.lease = new TollgateLease(context, applicable, leaseOptions, units.model, leaseId, reservation);
    }
    return decision as AcquireDecision;
  }

  check(identity: Identity, demand?: Demand): Promise<RequestDecision> {
    return toPromise(() => {
      const units = demandUnits(demand);
      return andThen(this.policies.resolve(identity), (policy) => {
        const applicable = this.applicable(policy, identity, this.clock(), policy.lease.ttlMs);
        if (applicable.length === 0 && refusesAnonymous(policy)) return noIdentity(policy);
        const charges = applicable.filter(isCharged);
        const cost = reservedCost(units, this.pricer, charges.some(isCost));
        // A check asks whether one more slot would be free: no lease holds it.
        for (const applied of charges) charge(applied, units, cost, undefined);
        return this.runner.decide({ charges, dryRun: true, adjustments: [] }, (outcome) =>
          outcome.kind === 'failed'
            ? this.failed(policy, outcome.failure)
            : this.requestDecision(policy, charges, outcome.result, false, outcome.failure),
        );
      });
    });
  }

  async usage(identity: Identity): Promise<LimitState[]> {
    const policy = await this.policies.resolve(identity);
    // Reading every counter: each charge has amount 0.
    const applicable = this.applicable(policy, identity, this.clock(), policy.lease.ttlMs);
    const result = await this.runner.settle({ charges: applicable, dryRun: true, adjustments: [] });
    return evaluate(applicable, applicable, result, false).limits.map(({ retryAfterMs: _, ...state }) => state);
  }

  async waitFor(identity: Identity, demand: Demand | undefined, options: WaitOptions): Promise<AcquireDecision> {
    if (typeof options !== 'object' || options === null) throw new InvalidInputError(`waitFor(identity, demand, { timeoutMs }) needs options, got ${describe(options)}`);
    const { timeoutMs, signal, ...acquireOptions } = options;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new InvalidInputError(`waitFor: timeoutMs must be a finite number of ms of at least 0, got ${describe(timeoutMs)}`);
    }
    // Waiting happens in real time, whatever clock the limits count on.
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const decision = await this.acquire(identity, demand, acquireOptions);
      if (decision.allowed || decision.retryAfterMs === Infinity || performance.now() + decision.retryAfterMs > deadline) return decision;
      await pause(decision.retryAfterMs, signal);
    }
  }

  async reset(identity: Identity, limitName?: string): Promise<void> {
    const policy = await this.policies.resolve(identity);
    let applicable = this.applicable(policy, identity, this.clock(), policy.lease.ttlMs);
    if (limitName !== undefined) {
      if (!policy.limits.some((limit) => limit.name === limitName)) {
        throw new InvalidInputError(`reset: no limit is named ${describe(limitName)} (limits: ${policy.limits.map((l) => l.name).join(', ')})`);
      }
      applicable = applicable.filter(({ limit }) => limit.name === limitName);
    }
    const adjustments = applicable.map(({ counter }) => ({ type: 'reset' as const, counter }));
    if (adjustments.length > 0) await this.runner.settle({ charges: [], dryRun: false, adjustments });
  }

  /**
   * The policy's limits that apply to this identity, each with its key and counter (built for `now`
   * and `ttlMs`) and nothing charged yet. Validates the identity.
   */
  private applicable(policy: CompiledPolicy, identity: Identity, now: number, ttlMs: number): AppliedLimit[] {
    if (typeof identity !== 'object' || identity === null) throw new InvalidInputError(`identity must be an object, got ${describe(identity)}`);
    this.knownScopes.assertIdentity(identity);
    const { scopes, limits, scopeOf } = policy;
    if (scopes.length === 1) {
      // Most policies key on one scope: then every limit applies, or none does.
      const key = this.identityKey(identity, scopes[0]!);
      if (key === undefined) return [];
      const applicable: AppliedLimit[] = new Array(limits.length);
      for (let i = 0; i < limits.length; i++) applicable[i] = new AppliedLimit(limits[i]!, key, now, ttlMs);
      return applicable;
    }
    const keys = scopes.map((scope) => this.identityKey(identity, scope));
    const applicable: AppliedLimit[] = [];
    for (let i = 0; i < limits.length; i++) {
      const key = keys[scopeOf[i]!];
      if (key !== undefined) applicable.push(new AppliedLimit(limits[i]!, key, now, ttlMs));
    }
    return applicable;
  }

  /** Where the caller's counters of one scope live, or undefined when the identity lacks the scope. */
  private identityKey(identity: Identity, scope: string): IdentityKey | undefined {
    const value = identityValue(identity, scope);
    if (value === undefined) return undefined;
    let keys = this.scopes.get(scope);
    if (keys === undefined) this.scopes.set(scope, (keys = scopeKeys(this.prefix, scope)));
    return new ScopedIdentityKey(keys.head, keys.namespace, encodeKeyPart(value));
  }

  private failed(policy: CompiledPolicy, failure: Failure): DecisionRecord {
    const decision = failedDecision(failure);
    decision.tier = policy.tier;
    return decision;
  }

  private requestDecision(
    policy: CompiledPolicy,
    charges: readonly AppliedLimit[],
    result: StoreResult,
    commit: boolean,
    failure: Failure | undefined,
  ): DecisionRecord {
    const decision = evaluate(charges, charges, result, commit && result.allowed);
    if (failure) {
      decision.fallback = failure.fallback;
      decision.error = failure.error;
    }
    decision.tier = policy.tier;
    if (policy.degrade) {
      const index = charges.findIndex(({ limit }) => limit.name === policy.degrade!.budget);
      if (index >= 0) {
        const { capacity } = charges[index]!.limit;
        const used = result.readings[index]!.used;
        decision.degrade = policy.degrade.pick(capacity === 0 ? 1 : used / capacity);
      }
    }
    return decision;
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function refusesAnonymous(policy: CompiledPolicy): boolean {
  return policy.anonymous === 'refuse' && policy.limits.length > 0;
}

/** The refusal of a caller whose identity matches none of the policy's limits: no retry helps. */
function noIdentity(policy: CompiledPolicy): DecisionRecord {
  const decision = new DecisionRecord(false, 'no-identity', Infinity, [], []);
  decision.tier = policy.tier;
  return decision;
}

function isCost({ limit }: Applicable): boolean {
  return limit.resource === 'cost';
}

function isCharged({ limit }: Applicable): boolean {
  return limit.resource !== 'toolCalls';
}

/** Sets what a demand charges one limit: a slot under the lease's id, or its requests, tokens or cost. */
function charge(applied: AppliedLimit, units: DemandUnits, cost: number, leaseId: string | undefined): void {
  const { resource } = applied.limit;
  if (resource === 'concurrency') {
    applied.amount = 1;
    applied.leaseId = leaseId;
  } else {
    applied.amount = resource === 'requests' ? units.requests : resource === 'tokens' ? units.tokens : cost;
  }
}

function isStore(value: unknown): value is Store {
  return typeof (value as Store | undefined)?.apply === 'function' && Array.isArray((value as Store).capabilities?.algorithms);
}
