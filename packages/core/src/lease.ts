import { evaluate, failedDecision, type Applicable, type Decision, type LimitState } from './decision.js';
import { demandUnits, reservedCost, usageUnits, type Demand, type Usage } from './demand.js';
import { describe } from './duration.js';
import { InvalidInputError } from './errors.js';
import { unitsToUsd } from './money.js';
import type { ResolvedLeaseOptions } from './policy.js';
import type { Pricer } from './prices.js';
import type { StoreRunner } from './runner.js';
import type { Adjustment, Charge, Counter } from './store.js';
import { andThen, isPromise, toPromise, type MaybePromise } from './sync.js';

/** What `lease.record` charged for one LLM call. */
export interface RecordResult {
  /** Tokens the call used. */
  tokens: number;
  /** What the call cost, in USD (rounded up to the nano-dollar). */
  cost: number;
  /** Tokens beyond the lease's reservation, charged now. */
  overrunTokens: number;
  /** USD beyond the lease's reservation, charged now. */
  overrunCost: number;
}

/** Totals of a lease so far. */
export interface LeaseTotals {
  /** Tokens recorded. */
  tokens: number;
  /** USD recorded. */
  cost: number;
  /** Tokens and USD reserved (before release refunds the unused part). */
  reservedTokens: number;
  reservedCost: number;
  /** `record` calls, `step` calls and `tool` calls allowed so far. */
  records: number;
  steps: number;
  toolCalls: number;
}

/**
 * Two-phase accounting for one admitted request (or a whole agent workflow). `acquire` reserved the
 * estimate; each LLM call's actual usage is recorded against it; `release` refunds what was not
 * used and frees the concurrency slot. Never released, the lease frees its slot after its TTL (its
 * reservation then stays charged).
 */
export interface Lease {
  /** Unique id (also the concurrency slot's). */
  readonly id: string;
  /** Whether `release` has been called. */
  readonly released: boolean;
  /** What the lease has reserved and recorded so far. */
  readonly totals: LeaseTotals;
  /**
   * Records one LLM call's usage: consumes the reservation first, charges any overrun at once (an
   * overrun is never lost, even after release). One store call at most. Throws `InvalidInputError`
   * for bad usage (nothing charged) and `StoreError` when the store fails.
   */
  record(usage: Usage): Promise<RecordResult>;
  /**
   * Checks and counts one more LLM call before making it: refused past `maxSteps`, and, given a
   * demand, reserves its tokens and cost too (all or nothing).
   */
  step(demand?: Pick<Demand, 'tokens' | 'inputTokens' | 'outputTokens' | 'cost' | 'model'>): Promise<Decision>;
  /** Checks and charges one call of `name` against `toolCalls` limits and `maxToolCalls`, before the tool runs. */
  tool(name: string): Promise<Decision>;
  /** Refunds the unused reservation and frees the slot. Safe to call twice; one store call at most. */
  release(): Promise<void>;
}

type LeaseResource = 'tokens' | 'cost' | 'concurrency';

/** One reservation made at one store time: refunds must land where the charge did. */
interface Reservation {
  at: number;
  tokens: number;
  cost: number;
}

/** What every lease of one limiter (and one store) shares. */
export interface LeaseContext {
  readonly runner: StoreRunner;
  readonly pricer: Pricer;
  readonly clock: () => number;
}

/** A pseudo-limit for the lease's own caps, so refusals read like any other. */
function capState(name: string, limit: number): LimitState {
  return { name, scope: 'lease', resource: 'toolCalls', limit, used: limit, remaining: 0, resetAt: Infinity, retryAfterMs: Infinity };
}

function refusal(reason: 'lease-cap' | 'released', deniedBy: LimitState[] = []): Decision {
  return { allowed: false, reason, retryAfterMs: Infinity, deniedBy, limits: [] };
}

export class TollgateLease implements Lease {
  released = false;
  private reservations: Reservation[] = [];
  private reservedTokens = 0;
  private reservedCost = 0;
  private usedTokens = 0;
  private usedCost = 0;
  /** Overrun already charged to the store. */
  private overrunTokens = 0;
  private overrunCost = 0;
  private records = 0;
  private steps = 0;
  private toolCalls = 0;
  private releasing: Promise<void> | undefined;
  /** Records and steps on their way to the store: release waits for them before it settles. */
  private inflight: Set<Promise<unknown>> | undefined;
  /** The applicable limits of each resource the lease settles, found once when first needed. */
  private byResource: Partial<Record<LeaseResource, readonly Applicable[]>> | undefined;

  /**
   * @param drawnId the id, when the acquire needed it already (for a concurrency slot); otherwise
   *   drawn on first use, since a random UUID costs as much as the rest of a decision.
   */
  constructor(
    private readonly context: LeaseContext,
    private readonly applicable: readonly Applicable[],
    private readonly options: ResolvedLeaseOptions,
    private readonly model: string | undefined,
    private drawnId: string | undefined,
    reservation: Reservation | undefined,
  ) {
    if (reservation) this.reserve(reservation);
  }

  get id(): string {
    return (this.drawnId ??= crypto.randomUUID());
  }

  get totals(): LeaseTotals {
    return {
      tokens: this.usedTokens,
      cost: unitsToUsd(this.usedCost),
      reservedTokens: this.reservedTokens,
      reservedCost: unitsToUsd(this.reservedCost),
      records: this.records,
      steps: this.steps,
      toolCalls: this.toolCalls,
    };
  }

  record(usage: Usage): Promise<RecordResult> {
    return this.track(() => {
      const costNeeded = this.counters('cost').length > 0;
      const { tokens, cost } = usageUnits(usage, this.model, this.context.pricer, costNeeded);
      this.usedTokens += tokens;
      this.usedCost += cost;
      this.records++;
      const now = this.context.clock();
      const overrun = this.chargeOverrun(now);
      const adjustments = this.released ? overrun.adjustments : [...overrun.adjustments, ...this.touches(now)];
      const result = { tokens, cost: unitsToUsd(cost), overrunTokens: overrun.tokens, overrunCost: unitsToUsd(overrun.cost) };
      if (adjustments.length === 0) return result;
      return andThen(this.settle(adjustments, overrun), () => result);
    });
  }

  step(demand?: Pick<Demand, 'tokens' | 'inputTokens' | 'outputTokens' | 'cost' | 'model'>): Promise<Decision> {
    return this.track(() => this.takeStep(demand));
  }

  private async takeStep(demand?: Pick<Demand, 'tokens' | 'inputTokens' | 'outputTokens' | 'cost' | 'model'>): Promise<Decision> {
    const units = demandUnits({ model: this.model, ...demand, requests: 0 });
    const tokens = this.counters('tokens');
    const costs = this.counters('cost');
    const cost = reservedCost(units, this.context.pricer, costs.length > 0);
    if (this.released) return refusal('released');
    const { maxSteps } = this.options;
    if (this.steps >= maxSteps) return refusal('lease-cap', [capState('lease.maxSteps', maxSteps)]);
    // Counted before the await so that parallel steps cannot pass the cap together.
    this.steps++;
    const charged = [
      ...(units.tokens > 0 ? tokens.map((entry) => ({ entry, amount: units.tokens })) : []),
      ...(cost > 0 ? costs.map((entry) => ({ entry, amount: cost })) : []),
    ];
    const { decision, chargedAt } = await this.decide(charged);
    if (!decision.allowed) this.steps--;
    else if (chargedAt !== undefined) this.reserve({ at: chargedAt, tokens: units.tokens, cost });
    return decision;
  }

  async tool(name: string): Promise<Decision> {
    if (typeof name !== 'string' || name === '' || name.length > 256) {
      throw new InvalidInputError(`lease.tool(name) needs a tool name, got ${describe(name)}`);
    }
    if (this.released) return refusal('released');
    const { maxToolCalls } = this.options;
    if (this.toolCalls >= maxToolCalls) return refusal('lease-cap', [capState('lease.maxToolCalls', maxToolCalls)]);
    this.toolCalls++;
    const matching = this.applicable.filter(
      ({ limit }) => limit.resource === 'toolCalls' && (limit.tool === undefined || limit.tool === name),
    );
    const { decision } = await this.decide(matching.map((entry) => ({ entry, amount: 1 })));
    if (!decision.allowed) this.toolCalls--;
    return decision;
  }

  release(): Promise<void> {
    if (this.releasing) return this.releasing;
    this.released = true;
    const attempt = this.inflight?.size ? this.releaseAfterInflight() : toPromise(() => this.settleRelease());
    this.releasing = attempt;
    // A release the store refused can be tried again: it recomputes from the restored state.
    attempt.catch(() => {
      if (this.releasing === attempt) this.releasing = undefined;
    });
    return attempt;
  }

  /** Lets records and steps already on their way settle first, so their outcome is accounted. */
  private async releaseAfterInflight(): Promise<void> {
    while (this.inflight?.size) await Promise.allSettled([...this.inflight]);
    await this.settleRelease();
  }

  private settleRelease(): MaybePromise<void> {
    const now = this.context.clock();
    const adjustments: Adjustment[] = [];
    // Usage not charged as overrun consumes the oldest reservations first; what is left of each is
    // refunded where it was charged.
    let coveredTokens = this.usedTokens - this.overrunTokens;
    let coveredCost = this.usedCost - this.overrunCost;
    for (const reservation of this.reservations) {
      const tokens = reservation.tokens - Math.min(reservation.tokens, coveredTokens);
      const cost = reservation.cost - Math.min(reservation.cost, coveredCost);
      coveredTokens = Math.max(0, coveredTokens - reservation.tokens);
      coveredCost = Math.max(0, coveredCost - reservation.cost);
      if (tokens > 0) for (const counter of this.counters('tokens', now)) adjustments.push({ type: 'refund', counter, amount: tokens, at: reservation.at });
      if (cost > 0) for (const counter of this.counters('cost', now)) adjustments.push({ type: 'refund', counter, amount: cost, at: reservation.at });
    }
    // An overrun whose record failed to reach the store is charged now.
    const overrun = this.chargeOverrun(now);
    adjustments.push(...overrun.adjustments);
    for (const counter of this.counters('concurrency', now)) adjustments.push({ type: 'release', counter, leaseId: this.id });
    if (adjustments.length === 0) return;
    // From here on the unused reservation is gone: later records are charged in full. If the store
    // refuses the release, it is all put back for a retry.
    const before = { reservations: this.reservations, tokens: this.reservedTokens, cost: this.reservedCost };
    this.reservedTokens = Math.min(this.reservedTokens, this.usedTokens - this.overrunTokens);
    this.reservedCost = Math.min(this.reservedCost, this.usedCost - this.overrunCost);
    this.reservations = [];
    // Nothing can reserve meanwhile (a released lease refuses steps), so restoring is assigning back.
    const restore = (error: unknown) => {
      this.reservations = before.reservations;
      this.reservedTokens = before.tokens;
      this.reservedCost = before.cost;
      throw error;
    };
    try {
      const settled = this.settle(adjustments, overrun);
      return isPromise(settled) ? settled.then(() => undefined, restore) : undefined;
    } catch (error) {
      return restore(error);
    }
  }

  /** Runs an operation, keeping it in `inflight` until it settles. */
  private track<T>(operation: () => MaybePromise<T>): Promise<T> {
    const promise = toPromise(operation);
    const inflight = (this.inflight ??= new Set());
    inflight.add(promise);
    const done = () => inflight.delete(promise);
    promise.then(done, done);
    return promise;
  }

  /**
   * Sends adjustments to the store. The overrun they carry was counted as charged up front, so
   * concurrent records never charge it twice; if the store fails it is uncounted again, and the
   * next record or the release charges it.
   */
  private settle(adjustments: Adjustment[], overrun: { tokens: number; cost: number }): MaybePromise<unknown> {
    const undo = (error: unknown) => {
      this.overrunTokens -= overrun.tokens;
      this.overrunCost -= overrun.cost;
      throw error;
    };
    try {
      const settled = this.context.runner.settle({ charges: [], dryRun: false, adjustments });
      return isPromise(settled) ? settled.catch(undo) : settled;
    } catch (error) {
      return undo(error);
    }
  }

  private reserve(reservation: Reservation): void {
    this.reservations.push(reservation);
    this.reservedTokens += reservation.tokens;
    this.reservedCost += reservation.cost;
  }

  /**
   * Usage that neither a reservation nor an earlier overrun charge covers, as `add` adjustments,
   * counted as charged from now on. Overrun charged once stays outside the reservations, so a later
   * `step` reservation is never spent on usage already paid for.
   */
  private chargeOverrun(now: number): { adjustments: Adjustment[]; tokens: number; cost: number } {
    const tokens = Math.max(0, this.usedTokens - this.overrunTokens - this.reservedTokens);
    const cost = Math.max(0, this.usedCost - this.overrunCost - this.reservedCost);
    this.overrunTokens += tokens;
    this.overrunCost += cost;
    const adjustments: Adjustment[] = [];
    if (tokens > 0) for (const counter of this.counters('tokens', now)) adjustments.push({ type: 'add', counter, amount: tokens });
    if (cost > 0) for (const counter of this.counters('cost', now)) adjustments.push({ type: 'add', counter, amount: cost });
    return { adjustments, tokens, cost };
  }

  private touches(now: number): Adjustment[] {
    return this.counters('concurrency', now).map((counter) => ({ type: 'touch', counter, leaseId: this.id }));
  }

  /** The lease's counters of one resource, built for `now` (calendar periods move on). */
  private counters(resource: LeaseResource): readonly Applicable[];
  private counters(resource: LeaseResource, now: number): Counter[];
  private counters(resource: LeaseResource, now?: number): readonly Applicable[] | Counter[] {
    this.byResource ??= {};
    const entries = (this.byResource[resource] ??= this.applicable.filter(({ limit }) => limit.resource === resource));
    if (now === undefined) return entries;
    return entries.map(({ limit, identity }) => limit.counter(identity, now, this.options.ttlMs));
  }

  /**
   * A checked batch of charges on this lease's counters (touching its slot), with the failure policy.
   * `chargedAt` is set when the lease's own store took the charges, so they can be refunded there.
   */
  private async decide(charged: Array<{ entry: Applicable; amount: number }>): Promise<{ decision: Decision; chargedAt?: number }> {
    const now = this.context.clock();
    const adjustments = this.touches(now);
    if (charged.length === 0 && adjustments.length === 0) {
      return { decision: { allowed: true, reason: 'ok', retryAfterMs: 0, deniedBy: [], limits: [] } };
    }
    const { ttlMs } = this.options;
    const charges: Charge[] = charged.map(({ entry, amount }) => ({ counter: entry.limit.counter(entry.identity, now, ttlMs), amount }));
    const outcome = await this.context.runner.decide({ charges, dryRun: false, adjustments });
    if (outcome.kind === 'failed') return { decision: failedDecision(outcome.failure) };
    const { result, failure } = outcome;
    const evaluated = evaluate(charged.map(({ entry }) => entry), charges, result, result.allowed);
    if (failure) return { decision: { ...evaluated, fallback: failure.fallback, error: failure.error } };
    return { decision: evaluated, ...(result.allowed && { chargedAt: result.now }) };
  }
}
