import { DecisionRecord, evaluate, failedDecision, type Applicable } from './decision.js';
import type { LimitState } from './decision-types.js';
import { demandUnits, reservedCost, type Demand, type DemandUnits } from '../pricing/demand.js';
import { describeValue } from '../util/describe-value.js';
import { ConfigurationError, InvalidInputError } from '../errors.js';
import { encodeKeyPart, identityValue, KnownScopes, type Identity } from '../policy/identity.js';
import { TollgateLease, type LeaseContext } from './lease.js';
import type { AcquireDecision, AcquireOptions, Limiter, LimiterOptions, RequestDecision, WaitOptions } from './limiter-types.js';
import { ScopedIdentityKey, scopeKeys, type CompiledLimit, type ScopeKeys } from '../policy/limits.js';
import { PolicyResolver, resolveLeaseOptions, type CompiledPolicy, type ResolvedLeaseOptions } from '../policy/policy.js';
import { Pricer } from '../pricing/prices.js';
import { DeadlineFallback } from '../store/deadline-fallback.js';
import type { Failure, Outcome } from '../store/failure-policy.js';
import type { Adjustment, Charge, Counter, CounterAlgorithm, IdentityKey, Store, StoreResult } from '../store/contract.js';
import { andThen, isPromise, toPromise, type MaybePromise } from '../util/sync.js';
import { acquireNow, scopesUsed, type InternalLimiter } from './internal.js';

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
  private readonly guard: DeadlineFallback;
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
    if (typeof options !== 'object' || options === null) throw new ConfigurationError(`createLimiter needs options, got ${describeValue(options)}`);
    const { store, timeoutMs = 1000, onStoreError = 'deny', localStore, clock = Date.now, prefix = 'tollgate' } = options;
    if (!isStore(store)) throw new ConfigurationError('store must be a Tollgate store (e.g. new MemoryStore())');
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new ConfigurationError(`timeoutMs must be a positive number of ms, got ${describeValue(timeoutMs)}`);
    }
    if (!['deny', 'allow', 'local'].includes(onStoreError)) {
      throw new ConfigurationError(`onStoreError must be 'deny', 'allow' or 'local', got ${describeValue(onStoreError)}`);
    }
    if (onStoreError === 'local' && !isStore(localStore)) {
      throw new ConfigurationError("onStoreError: 'local' needs localStore, an in-process store such as new MemoryStore()");
    }
    if (typeof clock !== 'function') throw new ConfigurationError('clock must be a function returning epoch ms');
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
      throw new ConfigurationError(`prefix must be 1-64 letters, digits, "_", "." or "-", got ${describeValue(prefix)}`);
    }
    const stores = onStoreError === 'local' ? [store, localStore!] : [store];
    this.knownScopes = new KnownScopes(options.scopes);
    this.policies = new PolicyResolver(options, stores, clock, this.knownScopes);
    this[scopesUsed] = this.policies.scopesUsed();
    this.guard = new DeadlineFallback(store, timeoutMs, onStoreError, localStore);
    this.pricer = new Pricer(options.prices);
    this.clock = clock;
    this.leaseContext = { guard: this.guard, pricer: this.pricer, clock };
    if (onStoreError === 'local') this.localLeaseContext = { guard: this.guard.local(), pricer: this.pricer, clock };
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
    return this.guard.decide({ charges, dryRun: false, adjustments: NO_ADJUSTMENTS }, (outcome) => this.acquired(request, outcome));
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
      const context = store === this.guard.store ? this.leaseContext : this.localLeaseContext!;
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
        return this.guard.decide({ charges, dryRun: true, adjustments: [] }, (outcome) =>
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
    const result = await this.guard.settle({ charges: applicable, dryRun: true, adjustments: [] });
    return evaluate(applicable, applicable, result, false).limits.map(({ retryAfterMs: _, ...state }) => state);
  }

  async waitFor(identity: Identity, demand: Demand | undefined, options: WaitOptions): Promise<AcquireDecision> {
    if (typeof options !== 'object' || options === null) throw new InvalidInputError(`waitFor(identity, demand, { timeoutMs }) needs options, got ${describeValue(options)}`);
    const { timeoutMs, signal, ...acquireOptions } = options;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new InvalidInputError(`waitFor: timeoutMs must be a finite number of ms of at least 0, got ${describeValue(timeoutMs)}`);
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
        throw new InvalidInputError(`reset: no limit is named ${describeValue(limitName)} (limits: ${policy.limits.map((l) => l.name).join(', ')})`);
      }
      applicable = applicable.filter(({ limit }) => limit.name === limitName);
    }
    const adjustments = applicable.map(({ counter }) => ({ type: 'reset' as const, counter }));
    if (adjustments.length > 0) await this.guard.settle({ charges: [], dryRun: false, adjustments });
  }

  /**
   * The policy's limits that apply to this identity, each with its key and counter (built for `now`
   * and `ttlMs`) and nothing charged yet. Validates the identity.
   */
  private applicable(policy: CompiledPolicy, identity: Identity, now: number, ttlMs: number): AppliedLimit[] {
    if (typeof identity !== 'object' || identity === null) throw new InvalidInputError(`identity must be an object, got ${describeValue(identity)}`);
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
