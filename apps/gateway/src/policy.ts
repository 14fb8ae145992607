import { createLimiter, errorPrefix, InvalidInputError, type Identity, type Limiter, type Store } from '@tollgate/core';
import { genaiPrices, type LlmPriceSource } from '@tollgate/llm';
import type { GatewayPolicy, KeyEntry } from './config/policy-types.js';
import type { NoDearer } from './proxy/degrade.js';
import { StepHints } from './proxy/step-hints.js';

/** Who is calling, once the API key is known. */
export interface Caller {
  readonly user: string;
  /** The key's id (never the secret). */
  readonly keyId: string;
  readonly tier: string;
}

/** The identity a caller's requests are limited under (the adapter adds `ip`). */
export function identityOf(caller: Pick<Caller, 'user' | 'keyId'>): Identity {
  return { user: caller.user, apiKey: caller.keyId };
}

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

  constructor(
    readonly config: GatewayPolicy,
    readonly tiers: ReadonlyMap<string, string>,
    readonly prices: LlmPriceSource,
    store: Store,
    timeoutMs: number,
  ) {
    for (const key of config.keys.values()) {
      const keys = this.keysByUser.get(key.user);
      if (keys) keys.push(key);
      else this.keysByUser.set(key.user, [key]);
    }
    this.limiter = createLimiter({
      store,
      timeoutMs,
      prices: this.prices,
      limits: config.limits,
      tiers: config.tiers,
      tierOf: (identity) => this.tierOf(identity.user ?? ''),
    });
  }

  tierOf(user: string): string {
    const tier = this.tiers.get(user);
    // Only callers with a known key are limited, so every identity names a configured user.
    if (tier === undefined) throw new InvalidInputError(`${errorPrefix('gateway')} no user is named ${JSON.stringify(user)}`);
    return tier;
  }
}

/**
 * The gateway's live policy: what the configuration file says, plus tier changes made through the
 * admin API (kept in this process until it restarts or the file names another tier for the user).
 * `limiter` always decides with the current version, so the Fastify plugin holding it sees every
 * change at once.
 */
export class LivePolicy {
  private version: PolicyVersion;
  /** Tier changes from the admin API, and the file's tier they were made over. */
  private readonly changed = new Map<string, { tier: string; over: string }>();

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
    this.version = this.build(config);
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

  /** Applies a new configuration file. A tier change made by the admin stays unless the file changed that user's tier too. */
  replace(config: GatewayPolicy): void {
    for (const [user, { over }] of this.changed) {
      if (config.users.get(user)?.tier !== over) this.changed.delete(user);
    }
    this.version = this.build(config);
  }

  /** Moves a user to another tier (admin API). Throws `InvalidInputError` for an unknown user or tier. */
  setTier(user: string, tier: string): void {
    const entry = this.config.users.get(user);
    if (!entry) throw new InvalidInputError(`no user is named ${JSON.stringify(user)}`);
    if (!Object.hasOwn(this.config.tiers, tier)) throw new InvalidInputError(`no tier is named ${JSON.stringify(tier)} (tiers: ${Object.keys(this.config.tiers).join(', ')})`);
    if (tier === entry.tier) this.changed.delete(user);
    else this.changed.set(user, { tier, over: entry.tier });
    // The same file: its price source, and what it has looked up, stay.
    this.version = this.build(this.config, this.prices);
  }

  /** The caller holding this API key, or undefined for a key the configuration does not list. */
  callerOf(secret: string): Caller | undefined {
    const key = this.config.keys.get(secret);
    return key && { user: key.user, keyId: key.id, tier: this.version.tierOf(key.user) };
  }

  tierOf(user: string): string {
    return this.version.tierOf(user);
  }

  /** Whether a tier's callers have `toolCalls` limits (its own, or every tier's). */
  limitsTools(tier: string): boolean {
    const { limits, tiers } = this.config;
    return [...limits, ...(tiers[tier]?.limits ?? [])].some((limit) => limit.resource === 'toolCalls');
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

  private build(config: GatewayPolicy, prices: LlmPriceSource = genaiPrices({ overrides: config.prices })): PolicyVersion {
    const tiers = new Map([...config.users].map(([user, { tier }]) => [user, this.changed.get(user)?.tier ?? tier]));
    return new PolicyVersion(config, tiers, prices, this.store, this.storeTimeoutMs);
  }
}
