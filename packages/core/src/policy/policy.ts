import { compileDegrade, type CompiledDegrade, type DegradeConfig } from './degrade.js';
import { parseDuration, type Duration } from './duration.js';
import { describeValue } from '../util/describe-value.js';
import { ConfigurationError, TollgateError } from '../errors.js';
import { encodeKeyPart, type Identity, type KnownScopes } from './identity.js';
import { compileLimits, type CompiledLimit, type LimitConfig } from './limits.js';
import type { AlgorithmType, Store } from '../store/contract.js';

/**
 * Defaults for leases (two-phase accounting). `acquire` can override them per request.
 */
export interface LeaseOptions {
  /**
   * How long a lease holds its concurrency slot without activity: `record`, `step` and `tool`
   * extend it. A lease never released (a crashed worker) frees its slot after this.
   * @default '5m'
   */
  ttl?: Duration;
  /**
   * The most LLM calls (`lease.step()`) one lease may make: runaway-loop protection for agents.
   * @default unlimited
   */
  maxSteps?: number;
  /**
   * The most tool calls (`lease.tool()`) one lease may make.
   * @default unlimited
   */
  maxToolCalls?: number;
  /**
   * What a lease charges for a call whose real usage is unknown: a stream cut off before its
   * usage arrived, or a response without usable usage (recorded with `{ partial: true }`).
   * `'reservation'` keeps the lease's whole reservation at release (the call may have used all of
   * it: with the output capped at the reservation, the provider cannot have billed more), so spend
   * never passes a budget; an honest client that cancels early pays its reservation.
   * `'counted'` charges only what was counted (the input and the output seen), refunding the rest:
   * cheaper for early cancels, but hidden reasoning tokens then go uncharged. A record that fails
   * (unpriceable usage, a store error) keeps the reservation under either rule.
   * @default 'reservation'
   * @example { onUnknownUsage: 'counted' } // trusted callers who often cancel streams
   */
  onUnknownUsage?: UnknownUsagePolicy;
}

/** What a lease charges for a call whose real usage is unknown (see `LeaseOptions.onUnknownUsage`). */
export type UnknownUsagePolicy = 'reservation' | 'counted';

/** Lease options in effect for one lease. */
export interface ResolvedLeaseOptions {
  ttlMs: number;
  maxSteps: number;
  maxToolCalls: number;
  onUnknownUsage: UnknownUsagePolicy;
}

/** One tier's policy. */
export interface PolicyConfig {
  limits: LimitConfig[];
  degrade?: DegradeConfig;
  lease?: LeaseOptions;
  /** Overrides the limiter's `anonymous` for this tier. */
  anonymous?: AnonymousPolicy;
}

/**
 * What a caller whose identity matches none of a policy's limits gets: `'refuse'` answers
 * `reason: 'no-identity'`, `'allow'` lets them through unlimited.
 */
export type AnonymousPolicy = 'refuse' | 'allow';

/** A validated policy for one caller. */
export interface CompiledPolicy {
  readonly limits: readonly CompiledLimit[];
  /** The distinct scopes of `limits`, so a call encodes each identity value once. */
  readonly scopes: readonly string[];
  /** For each limit, the index of its scope in `scopes`. */
  readonly scopeOf: readonly number[];
  /** Which resources the policy limits, so calls skip work for the others. */
  readonly hasCost: boolean;
  readonly hasConcurrency: boolean;
  readonly hasToolCalls: boolean;
  readonly degrade: CompiledDegrade | undefined;
  readonly lease: ResolvedLeaseOptions;
  readonly tier: string | undefined;
  /** Whether a caller none of the limits applies to is let through. */
  readonly anonymous: AnonymousPolicy;
}

export const DEFAULT_LEASE_TTL_MS = 5 * 60_000;
const DEFAULT_TIER_CACHE_MS = 60_000;
/** Tier answers cached at once; beyond this the oldest are dropped (memory stays bounded). */
const TIER_CACHE_ENTRIES = 10_000;

export function resolveLeaseOptions(options: LeaseOptions | undefined, base: ResolvedLeaseOptions, where: string): ResolvedLeaseOptions {
  if (options === undefined) return base;
  if (typeof options !== 'object' || options === null) throw new ConfigurationError(`${where} must be an object, got ${describeValue(options)}`);
  const cap = (value: unknown, name: string, fallback: number) => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      throw new ConfigurationError(`${where}.${name} must be a whole number of at least 0, got ${describeValue(value)}`);
    }
    return value as number;
  };
  const { onUnknownUsage = base.onUnknownUsage } = options;
  if (onUnknownUsage !== 'reservation' && onUnknownUsage !== 'counted') {
    throw new ConfigurationError(`${where}.onUnknownUsage must be 'reservation' or 'counted', got ${describeValue(onUnknownUsage)}`);
  }
  return {
    ttlMs: options.ttl === undefined ? base.ttlMs : parseDuration(options.ttl, `${where}.ttl`),
    maxSteps: cap(options.maxSteps, 'maxSteps', base.maxSteps),
    maxToolCalls: cap(options.maxToolCalls, 'maxToolCalls', base.maxToolCalls),
    onUnknownUsage,
  };
}

function assertAnonymous(value: unknown, where: string): void {
  if (value !== undefined && value !== 'refuse' && value !== 'allow') throw new ConfigurationError(`${where} must be 'refuse' or 'allow', got ${describeValue(value)}`);
}

/** The algorithms a policy needs from its store. */
function algorithmsOf(limits: readonly CompiledLimit[]): Set<AlgorithmType> {
  const now = Date.now();
  return new Set(limits.map((limit) => limit.algorithm(now, 1).type));
}

/** Throws when a store cannot enforce every algorithm a policy uses. */
export function assertSupported(stores: readonly Store[], limits: readonly CompiledLimit[]): void {
  for (const store of stores) {
    const supported = new Set(store.capabilities.algorithms);
    for (const type of algorithmsOf(limits)) {
      if (!supported.has(type)) {
        throw new ConfigurationError(`the store (${store.constructor.name}) cannot enforce "${type}" counters; use another algorithm or store`);
      }
    }
  }
}

export interface PolicySource {
  limits?: LimitConfig[] | ((identity: Identity) => LimitConfig[] | Promise<LimitConfig[]>);
  degrade?: DegradeConfig;
  lease?: LeaseOptions;
  tiers?: Record<string, PolicyConfig>;
  tierOf?: (identity: Identity) => string | Promise<string>;
  tierCacheTtl?: Duration;
  anonymous?: AnonymousPolicy;
}

/**
 * Resolves the policy for a caller: one static policy, a policy per tier (the tier chosen by the
 * app's `tierOf`, cached per identity), or limits computed from the identity.
 */
export class PolicyResolver {
  private readonly static: CompiledPolicy | undefined;
  private readonly tiers: Map<string, CompiledPolicy> | undefined;
  private readonly tierCache = new Map<string, { tier: string | Promise<string>; expiresAt: number }>();
  private readonly tierCacheMs: number;
  private readonly dynamic = new WeakMap<LimitConfig[], CompiledPolicy>();
  private readonly leaseBase: ResolvedLeaseOptions;

  constructor(
    private readonly source: PolicySource,
    private readonly stores: readonly Store[],
    private readonly clock: () => number,
    private readonly scopes: KnownScopes,
  ) {
    assertAnonymous(source.anonymous, 'anonymous');
    this.leaseBase = resolveLeaseOptions(source.lease, { ttlMs: DEFAULT_LEASE_TTL_MS, maxSteps: Infinity, maxToolCalls: Infinity, onUnknownUsage: 'reservation' }, 'lease');
    this.tierCacheMs = source.tierCacheTtl === undefined ? DEFAULT_TIER_CACHE_MS : parseDuration(source.tierCacheTtl, 'tierCacheTtl');
    const { limits, tiers, tierOf } = source;
    if (typeof limits === 'function') {
      if (tiers !== undefined) throw new ConfigurationError('give either tiers or limits as a function, not both');
      return;
    }
    const shared = limits === undefined ? [] : compileLimits(limits, this.scopes);
    if (tiers === undefined) {
      if (tierOf !== undefined) throw new ConfigurationError('tierOf needs tiers: { [tier]: { limits, degrade? } }');
      if (limits === undefined) throw new ConfigurationError('give limits (an array or a function of the identity), or tiers with tierOf');
      this.static = this.compile(shared, source.degrade, undefined, undefined, 'limits');
      return;
    }
    if (typeof tierOf !== 'function') throw new ConfigurationError('tiers need tierOf(identity), which returns a tier name');
    if (typeof tiers !== 'object' || tiers === null || Object.keys(tiers).length === 0) {
      throw new ConfigurationError(`tiers must map tier names to { limits, degrade? }, got ${describeValue(tiers)}`);
    }
    this.tiers = new Map();
    for (const [tier, config] of Object.entries(tiers)) {
      const where = `tiers.${tier}`;
      if (typeof config !== 'object' || config === null) throw new ConfigurationError(`${where} must be { limits, degrade? }, got ${describeValue(config)}`);
      const tierLimits = compileLimits(config.limits, this.scopes, `${where}.limits`);
      for (const limit of tierLimits) {
        if (shared.some((s) => s.name === limit.name)) {
          throw new ConfigurationError(`${where}.limits: "${limit.name}" is also a top-level limit; names must be unique`);
        }
      }
      assertAnonymous(config.anonymous, `${where}.anonymous`);
      this.tiers.set(tier, this.compile([...shared, ...tierLimits], config.degrade ?? source.degrade, config.lease, tier, where, config.anonymous));
    }
  }

  /**
   * Every scope a limit of any tier keys on, or `undefined` when the limits are a function of the
   * identity (any scope may appear).
   */
  scopesUsed(): ReadonlySet<string> | undefined {
    const policies = this.static ? [this.static] : this.tiers ? [...this.tiers.values()] : undefined;
    return policies && new Set(policies.flatMap((policy) => policy.scopes));
  }

  /** The policy of one caller; synchronous unless a tier lookup or a limits function is async. */
  resolve(identity: Identity): CompiledPolicy | Promise<CompiledPolicy> {
    if (this.static) return this.static;
    if (this.tiers) {
      const tier = this.tierOf(identity);
      return typeof tier === 'string' ? this.tierPolicy(tier) : tier.then((name) => this.tierPolicy(name));
    }
    const limits = (this.source.limits as (identity: Identity) => LimitConfig[] | Promise<LimitConfig[]>)(identity);
    return limits instanceof Promise ? limits.then((l) => this.dynamicPolicy(l)) : this.dynamicPolicy(limits);
  }

  private compile(
    limits: CompiledLimit[],
    degrade: DegradeConfig | undefined,
    lease: LeaseOptions | undefined,
    tier: string | undefined,
    where: string,
    anonymous: AnonymousPolicy | undefined = undefined,
  ): CompiledPolicy {
    assertSupported(this.stores, limits);
    const scopes = [...new Set(limits.map((limit) => limit.scope))];
    return {
      limits,
      scopes,
      scopeOf: limits.map((limit) => scopes.indexOf(limit.scope)),
      hasCost: limits.some((limit) => limit.resource === 'cost'),
      hasConcurrency: limits.some((limit) => limit.resource === 'concurrency'),
      hasToolCalls: limits.some((limit) => limit.resource === 'toolCalls'),
      degrade: compileDegrade(degrade, limits, `${where === 'limits' ? '' : `${where}.`}degrade`),
      lease: resolveLeaseOptions(lease, this.leaseBase, `${where}.lease`),
      tier,
      anonymous: anonymous ?? this.source.anonymous ?? 'refuse',
    };
  }

  /** Limits from a function: compiled once per array object the function returns. */
  private dynamicPolicy(limits: LimitConfig[]): CompiledPolicy {
    let policy = this.dynamic.get(limits);
    if (!policy) {
      const where = 'limits(identity)';
      policy = this.compile(compileLimits(limits, this.scopes, where), this.source.degrade, undefined, undefined, where);
      if (typeof limits === 'object' && limits !== null) this.dynamic.set(limits, policy);
    }
    return policy;
  }

  private tierPolicy(tier: string): CompiledPolicy {
    const policy = this.tiers!.get(tier);
    if (!policy) {
      throw new ConfigurationError(`tierOf returned ${describeValue(tier)}, which is not one of the tiers (${[...this.tiers!.keys()].join(', ')})`);
    }
    return policy;
  }

  /** The caller's tier, from the cache or from `tierOf` (concurrent lookups of one identity share one call). */
  private tierOf(identity: Identity): string | Promise<string> {
    const key = cacheKey(identity);
    const now = this.clock();
    const cached = this.tierCache.get(key);
    if (cached && cached.expiresAt > now) return cached.tier;
    let answer: string | Promise<string>;
    try {
      answer = this.source.tierOf!(identity);
    } catch (cause) {
      throw new TollgateError('tierOf(identity) threw', { cause });
    }
    if (answer instanceof Promise) {
      answer = answer.then(
        (tier) => {
          this.remember(key, tier, this.clock());
          return tier;
        },
        (cause: unknown) => {
          this.tierCache.delete(key);
          throw new TollgateError('tierOf(identity) rejected', { cause });
        },
      );
    }
    this.remember(key, answer, now);
    return answer;
  }

  private remember(key: string, tier: string | Promise<string>, now: number): void {
    this.tierCache.delete(key);
    if (this.tierCache.size >= TIER_CACHE_ENTRIES) this.tierCache.delete(this.tierCache.keys().next().value!);
    this.tierCache.set(key, { tier, expiresAt: now + this.tierCacheMs });
  }
}

/** Identities with the same values share a cache entry, whatever the key order. */
function cacheKey(identity: Identity): string {
  return Object.keys(identity)
    .filter((scope) => typeof identity[scope] === 'string')
    .sort()
    .map((scope) => `${encodeKeyPart(scope)}=${encodeKeyPart(identity[scope]!)}`)
    .join('&');
}
