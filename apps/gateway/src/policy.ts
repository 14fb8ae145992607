import { createLimiter, errorPrefix, InvalidInputError, type Identity, type Limiter, type LimitConfig, type Store } from '@tollgate/core';
import { genaiPrices, type LlmPriceSource } from '@tollgate/llm';
import type { GatewayPolicy, KeyEntry } from './config/policy-types.js';
import type { NoDearer } from './proxy/degrade.js';
import { groupOf, groupTierName, GROUP_SCOPES, limiterTiers } from './groups.js';
import { StepHints } from './proxy/step-hints.js';
import { addedTeam, addedUser, checkTeamRemoval, NOTHING_ADDED, usableLimits, withAdded, type AddedGroups } from './added-groups.js';

/** Who is calling, once the API key is known. */
export interface Caller {
  readonly user: string;
  /** The key's id (never the secret). */
  readonly keyId: string;
  readonly tier: string;
  /** The models the key may ask for (an issued key's allow-list); absent: any. */
  readonly models?: readonly string[];
  /** The user's team and its organisation, whose limits the user's requests count against too. */
  readonly team?: string;
  readonly org?: string;
}

/** The identity a caller's requests are limited under (the adapter adds `ip`). */
export function identityOf(caller: Pick<Caller, 'user' | 'keyId' | 'team' | 'org'>): Identity {
  return { user: caller.user, apiKey: caller.keyId, ...(caller.team !== undefined && { team: caller.team }), ...(caller.org !== undefined && { org: caller.org }) };
}

/** A user moved to another tier through the admin API, over the tier the file gave them then. */
export interface TierChange {
  readonly tier: string;
  readonly over: string;
}

/** An issued key's own limits (scope `apiKey`), with its user: by key name. */
export type KeyLimits = ReadonlyMap<string, { readonly user: string; readonly limits: readonly LimitConfig[] }>;

/** The limiter's tier for a request of a key with limits of its own: its user's, with the key's limits added. */
const keyTierName = (userTier: string, key: string) => `${userTier}+key:${key}`;

/** The call `noDearer` compares two models' prices on, unless told the call's size. */
const REFERENCE_CALL = { inputTokens: 1000, outputTokens: 1000 };

/**
 * One version of the policy: the file's tiers, users and keys (with the admin's tier changes)
 * compiled into a limiter over the shared store. A new version replaces it whenever the file or a
 * tier changes; since it counts on the same store under the same names, no counter is lost.
 */
class PolicyVersion {
  readonly limiter: Limiter;
  /** User id → their keys, in the file's order. */
  readonly keysByUser = new Map<string, KeyEntry[]>();
  /** The step each caller's last decision saw, under this version's tiers and ladders. */
  readonly steps = new StepHints();
  /** The tiers whose callers have `toolCalls` limits (their own, or every tier's). */
  readonly toolLimited: ReadonlySet<string>;
  /** User id → the limiter's tier for them: their tier joined with their team's limits. */
  private readonly limiterTierOf = new Map<string, string>();
  /** Key name → the limiter's tier for its requests, for the issued keys with limits of their own. */
  private readonly keyTierOf = new Map<string, { readonly user: string; readonly tier: string }>();

  constructor(
    readonly config: GatewayPolicy,
    readonly tiers: ReadonlyMap<string, string>,
    readonly prices: LlmPriceSource,
    store: Store,
    timeoutMs: number,
    keyLimits: KeyLimits,
  ) {
    for (const key of config.keys.values()) {
      const keys = this.keysByUser.get(key.user);
      if (keys) keys.push(key);
      else this.keysByUser.set(key.user, [key]);
    }
    for (const [user, tier] of tiers) this.limiterTierOf.set(user, groupTierName(tier, config.users.get(user)?.team));
    const countsTools = (limits: readonly LimitConfig[]) => limits.some((limit) => limit.resource === 'toolCalls');
    this.toolLimited = new Set(Object.keys(config.tiers).filter((tier) => countsTools(config.limits) || countsTools(config.tiers[tier]!.limits as LimitConfig[])));
    const tiersOfLimiter = limiterTiers(config);
    for (const [key, { user, limits }] of keyLimits) {
      const base = this.limiterTierOf.get(user);
      if (base === undefined) continue;
      const tier = keyTierName(base, key);
      tiersOfLimiter[tier] = { ...tiersOfLimiter[base]!, limits: [...tiersOfLimiter[base]!.limits, ...limits] };
      this.keyTierOf.set(key, { user, tier });
    }
    this.limiter = createLimiter({
      store,
      timeoutMs,
      prices: this.prices,
      scopes: GROUP_SCOPES,
      limits: config.limits,
      tiers: tiersOfLimiter,
      tierOf: (identity) => {
        const keyed = identity.apiKey === undefined || identity.apiKey === null ? undefined : this.keyTierOf.get(identity.apiKey);
        if (keyed !== undefined && keyed.user === identity.user) return keyed.tier;
        return this.known(this.limiterTierOf.get(identity.user ?? ''), identity.user ?? undefined);
      },
    });
  }

  tierOf(user: string): string {
    return this.known(this.tiers.get(user), user);
  }

  /** The limiter's tier for a user: their tier, joined with their team's limits. */
  limiterTier(user: string): string {
    return this.known(this.limiterTierOf.get(user), user);
  }

  // Only callers with a known key are limited, so every identity names a configured user.
  private known(tier: string | undefined, user: string | undefined): string {
    if (tier === undefined) throw new InvalidInputError(`${errorPrefix('gateway')} no user is named ${JSON.stringify(user)}`);
    return tier;
  }
}

/**
 * The gateway's live policy: what the configuration file says, plus tier changes made through the
 * admin API (kept until the file names another tier for the user; shared by `SharedTierChanges`).
 * `limiter` always decides with the current version, so the Fastify plugin holding it sees every
 * change at once.
 */
export class LivePolicy {
  private version: PolicyVersion;
  /** Tier changes from the admin API, and the file's tier they were made over. */
  private readonly changed = new Map<string, TierChange>();
  /** The issued keys' own limits in force. */
  private keyLimits: KeyLimits = new Map();
  /** The configuration file's policy, without what the admin added. */
  private file: GatewayPolicy;
  /** Users and teams added through the admin API. */
  private added: AddedGroups = NOTHING_ADDED;

  /** A limiter that always decides with the current policy. */
  readonly limiter: Limiter = {
    acquire: (...args) => this.version.limiter.acquire(...args),
    check: (...args) => this.version.limiter.check(...args),
    usage: (...args) => this.version.limiter.usage(...args),
    reset: (...args) => {
      this.version.steps.clear();
      return this.version.limiter.reset(...args);
    },
    waitFor: (...args) => this.version.limiter.waitFor(...args),
  };

  constructor(
    config: GatewayPolicy,
    private readonly store: Store,
    /** The longest a store call may take before the store counts as failed. */
    private readonly storeTimeoutMs: number,
  ) {
    this.file = config;
    this.version = this.build();
  }

  get config(): GatewayPolicy {
    return this.version.config;
  }

  get prices(): LlmPriceSource {
    return this.version.prices;
  }

  /** The step each caller's last decision saw (the estimate's hint, see `llmDemand`). */
  get steps(): StepHints {
    return this.version.steps;
  }

  /**
   * Applies a new configuration file. A tier change made by the admin stays unless the file changed
   * that user's tier too; returns the users whose changes it dropped.
   */
  replace(config: GatewayPolicy): string[] {
    const next = withAdded(config, this.added);
    const dropped = [...this.changed].filter(([user, { over }]) => next.users.get(user)?.tier !== over).map(([user]) => user);
    for (const user of dropped) this.changed.delete(user);
    this.file = config;
    this.version = this.build();
    return dropped;
  }

  /** Users and teams added through the admin API (the file's own are not here). */
  get addedGroups(): AddedGroups {
    return this.added;
  }

  /** A user to add (or change) through the admin API, checked: see `addedUser`. */
  checkAddedUser(id: string, body: unknown) {
    return addedUser(this.file, this.config, id, body);
  }

  /** A team to add (or change) through the admin API, checked: see `addedTeam`. */
  checkAddedTeam(id: string, body: unknown) {
    return addedTeam(this.file, this.config, this.store, id, body);
  }

  checkTeamRemoval(id: string): void {
    checkTeamRemoval(this.file, this.config, this.added, id);
  }

  /** Puts the added users and teams in force (as read from the records); the same ones change nothing. */
  applyAddedGroups(next: AddedGroups): void {
    const sorted = (groups: AddedGroups) => JSON.stringify([[...groups.users].sort(([a], [b]) => a.localeCompare(b)), [...groups.teams].sort(([a], [b]) => a.localeCompare(b))]);
    if (sorted(next) === sorted(this.added)) return;
    this.added = next;
    this.version = this.build(this.prices);
  }

  /**
   * The change that moves a user to `tier`: `undefined` when it is the file's own tier (no change).
   * Throws `InvalidInputError` for an unknown user or tier.
   */
  tierChange(user: string, tier: string): TierChange | undefined {
    const entry = this.config.users.get(user);
    if (!entry) throw new InvalidInputError(`no user is named ${JSON.stringify(user)}`);
    if (!Object.hasOwn(this.config.tiers, tier)) throw new InvalidInputError(`no tier is named ${JSON.stringify(tier)} (tiers: ${Object.keys(this.config.tiers).join(', ')})`);
    return tier === entry.tier ? undefined : { tier, over: entry.tier };
  }

  /** The admin's tier changes in force, by user. */
  get tierChanges(): ReadonlyMap<string, TierChange> {
    return this.changed;
  }

  /**
   * Puts `changes` in force in place of the current ones (as another instance made them): those
   * the file has overtaken (it names another tier for the user than the change was made over), or
   * whose user or tier it no longer has, are left out.
   */
  applyTierChanges(changes: ReadonlyMap<string, TierChange>): void {
    const valid = [...changes].filter(([user, { tier, over }]) => this.config.users.get(user)?.tier === over && Object.hasOwn(this.config.tiers, tier));
    const same = valid.length === this.changed.size && valid.every(([user, { tier }]) => this.changed.get(user)?.tier === tier);
    if (same) return;
    this.changed.clear();
    for (const [user, change] of valid) this.changed.set(user, change);
    // The same file: its price source, and what it has looked up, stay.
    this.version = this.build(this.prices);
  }

  /**
   * `limits` as a key of `user` may have them: each in the key's scope (`apiKey`, the default),
   * named apart from every limit the user's requests count against, and valid as core reads it.
   * Throws `InvalidInputError` saying what is wrong.
   */
  checkKeyLimits(user: string, limits: unknown): LimitConfig[] {
    if (!Array.isArray(limits) || limits.length === 0 || !limits.every((limit) => typeof limit === 'object' && limit !== null && !Array.isArray(limit))) {
      throw new InvalidInputError('limits, when given, must be a non-empty list of limits, e.g. [{ "name": "key-usd", "resource": "cost", "limit": 5, "reset": { "every": "day" } }].');
    }
    const keyed = (limits as Array<Record<string, unknown>>).map((limit) => {
      if (limit.scope !== undefined && limit.scope !== 'apiKey') throw new InvalidInputError(`A key's limit has the key's scope (apiKey): ${JSON.stringify(limit.name)} names scope ${JSON.stringify(limit.scope)}.`);
      return { ...limit, scope: 'apiKey' } as unknown as LimitConfig;
    });
    const base = limiterTiers(this.config)[this.version.limiterTier(user)]!;
    usableLimits("The key's limits", this.store, this.config.limits, { key: { ...base, limits: [...base.limits, ...keyed] } });
    return keyed;
  }

  /** Puts the issued keys' own limits in force (as read from the records); unchanged limits change nothing. */
  applyKeyLimits(next: KeyLimits): void {
    const sorted = (limits: KeyLimits) => JSON.stringify([...limits].sort(([a], [b]) => a.localeCompare(b)));
    if (sorted(next) === sorted(this.keyLimits)) return;
    this.keyLimits = next;
    this.version = this.build(this.prices);
  }

  /** The caller holding this API key, or undefined for a key the configuration does not list. */
  callerOf(secret: string): Caller | undefined {
    const key = this.config.keys.get(secret);
    return key && this.callerFor(key.user, key.id);
  }

  tierOf(user: string): string {
    return this.version.tierOf(user);
  }

  /** The caller of a user of the file with the key `keyId`: their tier, team and organisation. */
  callerFor(user: string, keyId: string): Caller {
    return { user, keyId, tier: this.version.tierOf(user), ...groupOf(this.config, user) };
  }

  /** Whether a tier's callers have `toolCalls` limits (its own, or every tier's). */
  limitsTools(tier: string): boolean {
    return this.version.toolLimited.has(tier);
  }

  /**
   * Whether `candidate` costs no more than `reference`, by their prices for a call of `size` (by
   * default a thousand tokens in and out); true when either is unpriced: the ladder's model then
   * applies as written.
   */
  readonly noDearer: NoDearer = (candidate, reference, size = REFERENCE_CALL) => {
    const { prices } = this.version;
    if (candidate === reference) return true;
    if (!prices.lookup(candidate) || !prices.lookup(reference)) return true;
    const call = { inputTokens: size.inputTokens, outputTokens: size.outputTokens };
    return prices.costOf(candidate, call) <= prices.costOf(reference, call);
  };

  /** The keys of one user. */
  keysOf(user: string): readonly KeyEntry[] {
    return this.version.keysByUser.get(user) ?? [];
  }

  /** A version of the file's policy with what the admin added; `prices` when the file's prices did not change. */
  private build(prices: LlmPriceSource = genaiPrices({ overrides: this.file.prices })): PolicyVersion {
    const config = withAdded(this.file, this.added);
    const tiers = new Map([...config.users].map(([user, { tier }]) => [user, this.changed.get(user)?.tier ?? tier]));
    return new PolicyVersion(config, tiers, prices, this.store, this.storeTimeoutMs, this.keyLimits);
  }
}
