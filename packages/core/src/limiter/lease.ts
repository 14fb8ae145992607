import { DecisionRecord, evaluate, failedDecision, type Applicable } from './decision.js';
import type { Decision, LimitState } from './decision-types.js';
import type { Lease, LeaseTotals, RecordOptions, RecordResult, ReleaseOptions } from './lease-types.js';
import { demandUnits, reservedCost, usageUnits, type Demand, type Usage } from '../pricing/demand.js';
import { describeValue } from '../util/describe-value.js';
import { InvalidInputError } from '../errors.js';
import { unitsToUsd } from '../pricing/money.js';
import type { ResolvedLeaseOptions } from '../policy/policy.js';
import type { Pricer } from '../pricing/prices.js';
import type { DeadlineFallback } from '../store/deadline-fallback.js';
import { counterOf, type Resource } from '../policy/limits.js';
import type { Adjustment, Charge } from '../store/contract.js';
import { andThen, isPromise, toPromise, type MaybePromise } from '../util/sync.js';
import { LeaseLedger, NOTHING, type Reservation } from './ledger.js';

/** What every lease of one limiter (and one store) shares. */
export interface LeaseContext {
  readonly guard: DeadlineFallback;
  readonly pricer: Pricer;
  readonly clock: () => number;
}

/**
 * A pseudo-limit for the lease's own caps, so refusals read like any other: `lease.maxSteps` counts
 * LLM calls (requests to the model), `lease.maxToolCalls` tool calls.
 */
function capState(name: 'lease.maxSteps' | 'lease.maxToolCalls', limit: number): LimitState {
  const resource = name === 'lease.maxSteps' ? 'requests' : 'toolCalls';
  return { name, scope: 'lease', resource, limit, used: limit, remaining: 0, resetAt: Infinity, retryAfterMs: Infinity };
}

function refusal(reason: 'lease-cap' | 'released', deniedBy: LimitState[] = []): Decision {
  return new DecisionRecord(false, reason, Infinity, deniedBy, []);
}

/**
 * What `release` returns once it has settled synchronously: one promise for every lease, which
 * never rejects (so the HTTP layer need not watch it: a `.catch` would cost each request a
 * promise and a microtask).
 */
export const RELEASED: Promise<void> = Promise.resolve();

interface Overrun {
  readonly adjustments: readonly Adjustment[];
  readonly tokens: number;
  readonly cost: number;
}

/**
 * An overrun of nothing: what settling a lease that stayed within its reservation charges. (Not
 * frozen: V8 iterates frozen arrays on a slower path.)
 */
const NO_OVERRUN: Overrun = { adjustments: [], tokens: 0, cost: 0 };

/** A lease's batches adjust and never charge. (Not frozen, as above.) */
const NO_CHARGES: readonly Charge[] = [];

function isPartial(options: RecordOptions | undefined): boolean {
  if (options === undefined) return false;
  if (typeof options !== 'object' || options === null || (options.partial !== undefined && typeof options.partial !== 'boolean')) {
    throw new InvalidInputError(`lease.record(usage, options): options must be { partial?: boolean }, got ${describeValue(options)}`);
  }
  return options.partial === true;
}

/**
 * A lease's lifecycle (record, step, tool, finish, release) and its store calls; the money
 * arithmetic is its `LeaseLedger`.
 */
export class TollgateLease implements Lease {
  released = false;
  /** What the lease reserved, used, charged as overrun and refunded. */
  private readonly ledger: LeaseLedger;
  private records = 0;
  private steps = 0;
  private toolCalls = 0;
  private releasing: Promise<void> | undefined;
  /** Records and steps on their way to the store: release waits for them before it settles. */
  private inflight: Set<Promise<unknown>> | undefined;

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
    this.ledger = new LeaseLedger(reservation);
  }

  get id(): string {
    return (this.drawnId ??= crypto.randomUUID());
  }

  get totals(): LeaseTotals {
    const { ledger } = this;
    return {
      tokens: ledger.usedTokens,
      cost: unitsToUsd(ledger.usedCost),
      reservedTokens: ledger.reservedTokens,
      reservedCost: unitsToUsd(ledger.reservedCost),
      records: this.records,
      steps: this.steps,
      toolCalls: this.toolCalls,
      unknownUsage: ledger.unknownUsage,
    };
  }

  record(usage: Usage, options?: RecordOptions): Promise<RecordResult> {
    const recorded = this.track(() => {
      const result = this.tally(usage, options);
      const overrun = this.chargeOverrun(this.context.clock());
      const adjustments = this.released ? overrun.adjustments : [...overrun.adjustments, ...this.slotAdjustments('touch')];
      if (adjustments.length === 0) return result;
      return andThen(this.settle(adjustments, overrun), () => result);
    });
    // Set before a waiting release settles: its reactions run after this one.
    recorded.catch(() => {
      this.ledger.unknownUsage = true;
      if (this.released) this.chargeRefundBack();
    });
    return recorded;
  }

  finish(usage: Usage, options?: RecordOptions & ReleaseOptions): Promise<RecordResult> {
    // Released already (a client that left first), or other calls still settling: two calls.
    if (this.released || this.inflight?.size) {
      const recorded = this.record(usage, options);
      const released = recorded.then(
        () => this.release(options),
        () => this.release(options),
      );
      return released.then(() => recorded);
    }
    let result: RecordResult;
    try {
      result = this.tally(usage, options);
    } catch (error) {
      // Usage that cannot be counted: the release keeps the reservation.
      this.ledger.unknownUsage = true;
      return this.release(options).then(() => Promise.reject(error));
    }
    return this.release(options).then(() => result);
  }

  /**
   * Counts one call's usage on the lease, without a store call: the next store call (a record's
   * overrun, the release) charges it. Throws for usage that cannot be counted.
   */
  private tally(usage: Usage, options: RecordOptions | undefined): RecordResult {
    if (isPartial(options) && this.options.onUnknownUsage === 'reservation') this.ledger.unknownUsage = true;
    const { tokens, cost } = usageUnits(usage, this.model, this.context.pricer, this.has('cost'));
    this.ledger.use(tokens, cost);
    this.records++;
    const overrun = this.ledger.uncharged();
    return { tokens, cost: unitsToUsd(cost), overrunTokens: overrun.tokens, overrunCost: unitsToUsd(overrun.cost) };
  }

  /**
   * A record that failed after the release (which refunded the unused reservation): the refund is
   * charged again, since the call's usage is unknown. Best effort: the record's own error has
   * already reached the caller, and a store that fails this too leaves it as the release did.
   */
  private chargeRefundBack(): void {
    const overrun = this.chargeOverrun(this.context.clock());
    if (overrun.adjustments.length === 0) return;
    toPromise(() => this.settle(overrun.adjustments, overrun)).catch(() => undefined);
  }

  step(demand?: Pick<Demand, 'tokens' | 'inputTokens' | 'outputTokens' | 'cost' | 'model'>): Promise<Decision> {
    return this.track(() => this.takeStep(demand));
  }

  private async takeStep(demand?: Pick<Demand, 'tokens' | 'inputTokens' | 'outputTokens' | 'cost' | 'model'>): Promise<Decision> {
    const units = demandUnits({ model: this.model, ...demand, requests: 0 });
    const cost = reservedCost(units, this.context.pricer, this.has('cost'));
    if (this.released) return refusal('released');
    const { maxSteps } = this.options;
    if (this.steps >= maxSteps) return refusal('lease-cap', [capState('lease.maxSteps', maxSteps)]);
    // Counted before the await so that parallel steps cannot pass the cap together.
    this.steps++;
    const charged: Array<{ entry: Applicable; amount: number }> = [];
    for (const entry of this.applicable) {
      const { resource } = entry.limit;
      if (resource === 'tokens' && units.tokens > 0) charged.push({ entry, amount: units.tokens });
      else if (resource === 'cost' && cost > 0) charged.push({ entry, amount: cost });
    }
    const { decision, chargedAt } = await this.decide(charged);
    if (!decision.allowed) this.steps--;
    else if (chargedAt !== undefined) this.ledger.reserve({ at: chargedAt, tokens: units.tokens, cost });
    return decision;
  }

  async tool(name: string): Promise<Decision> {
    if (typeof name !== 'string' || name === '' || name.length > 256) {
      throw new InvalidInputError(`lease.tool(name) needs a tool name, got ${describeValue(name)}`);
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

  release(options?: ReleaseOptions): Promise<void> {
    if (this.releasing) return this.releasing;
    this.released = true;
    const refundRequests = options?.refundRequests === true;
    if (this.inflight?.size) return this.retryable(this.releaseAfterInflight(refundRequests));
    let settled: MaybePromise<void>;
    try {
      settled = this.settleRelease(refundRequests);
    } catch (error) {
      // Not remembered: the next release() tries again from the restored state.
      return Promise.reject(error);
    }
    // An in-process store settles at once: no promise of this lease's own to make and watch.
    return isPromise(settled) ? this.retryable(settled) : (this.releasing = RELEASED);
  }

  /** Remembers a release in progress; if the store refuses it, a later release() can try again. */
  private retryable(attempt: Promise<void>): Promise<void> {
    this.releasing = attempt;
    attempt.catch(() => {
      if (this.releasing === attempt) this.releasing = undefined;
    });
    return attempt;
  }

  /** Lets records and steps already on their way settle first, so their outcome is accounted. */
  private async releaseAfterInflight(refundRequests: boolean): Promise<void> {
    while (this.inflight?.size) await Promise.allSettled([...this.inflight]);
    await this.settleRelease(refundRequests);
  }

  private settleRelease(refundRequests: boolean): MaybePromise<void> {
    const now = this.context.clock();
    const adjustments: Adjustment[] = [];
    const { ledger } = this;
    const acquired = ledger.acquired;
    if (refundRequests && acquired?.requests) this.requestRefunds(adjustments, acquired.requests, acquired.at);
    // What the usage left of each reservation is refunded where it was charged (nothing when a
    // call's usage is unknown: then it all stays charged).
    const refunds = ledger.refunds();
    for (const refund of refunds) this.budgetAdjustments(adjustments, refund.tokens, refund.cost, now, refund.at);
    // An overrun whose record failed to reach the store is charged now.
    const overrun = this.chargeOverrun(now);
    for (const adjustment of overrun.adjustments) adjustments.push(adjustment);
    for (const adjustment of this.slotAdjustments('release')) adjustments.push(adjustment);
    if (adjustments.length === 0) return;
    // If the store refuses the release, the ledger puts it all back for a retry.
    ledger.release(refunds);
    // The failure paths build their closures only when they are taken: a release runs per request.
    let settled: MaybePromise<unknown>;
    try {
      settled = this.settle(adjustments, overrun);
    } catch (error) {
      ledger.unrelease();
      throw error;
    }
    if (!isPromise(settled)) return;
    return settled.then(
      () => undefined,
      (error: unknown) => {
        ledger.unrelease();
        throw error;
      },
    );
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
  private settle(adjustments: readonly Adjustment[], overrun: Overrun): MaybePromise<unknown> {
    let settled: MaybePromise<unknown>;
    try {
      settled = this.context.guard.settle({ charges: NO_CHARGES, dryRun: false, adjustments });
    } catch (error) {
      this.ledger.uncount(overrun);
      throw error;
    }
    if (!isPromise(settled)) return settled;
    return settled.catch((error: unknown) => {
      this.ledger.uncount(overrun);
      throw error;
    });
  }

  /**
   * The ledger's uncharged usage as `add` adjustments, counted as charged from now on (see
   * `LeaseLedger.chargeOverrun`).
   */
  private chargeOverrun(now: number): Overrun {
    const overrun = this.ledger.chargeOverrun();
    if (overrun === NOTHING) return NO_OVERRUN;
    const { tokens, cost } = overrun;
    const adjustments: Adjustment[] = [];
    this.budgetAdjustments(adjustments, tokens, cost, now, undefined);
    return { adjustments, tokens, cost };
  }

  /**
   * Adds `tokens` to each of the lease's token limits and `cost` to each cost limit, or refunds
   * them from a charge made at store time `at`.
   */
  private budgetAdjustments(into: Adjustment[], tokens: number, cost: number, now: number, at: number | undefined): void {
    for (const { limit, identity, counter } of this.applicable) {
      const amount = limit.resource === 'tokens' ? tokens : limit.resource === 'cost' ? cost : 0;
      if (amount === 0) continue;
      if (at === undefined) into.push({ type: 'add', counter: counterOf(limit, identity, now, this.options.ttlMs), amount });
      else into.push({ type: 'refund', counter, amount, at });
    }
  }

  /** Refunds `requests` from each of the lease's request limits, where `acquire` charged them at `at`. */
  private requestRefunds(into: Adjustment[], requests: number, at: number): void {
    for (const { limit, counter } of this.applicable) {
      if (limit.resource === 'requests') into.push({ type: 'refund', counter, amount: requests, at });
    }
  }

  /** Touches or releases the lease's concurrency slots. */
  private slotAdjustments(type: 'touch' | 'release'): Adjustment[] {
    const adjustments: Adjustment[] = [];
    for (const { limit, counter } of this.applicable) {
      if (limit.resource === 'concurrency') adjustments.push({ type, counter, leaseId: this.id });
    }
    return adjustments;
  }

  /** Whether a limit of `resource` applies to this lease. */
  private has(resource: Resource): boolean {
    for (const { limit } of this.applicable) if (limit.resource === resource) return true;
    return false;
  }

  /**
   * A checked batch of charges on this lease's counters (touching its slot), with the failure policy.
   * `chargedAt` is set when the lease's own store took the charges, so they can be refunded there.
   */
  private async decide(charged: Array<{ entry: Applicable; amount: number }>): Promise<{ decision: Decision; chargedAt?: number }> {
    const now = this.context.clock();
    const adjustments = this.slotAdjustments('touch');
    if (charged.length === 0 && adjustments.length === 0) return { decision: new DecisionRecord(true, 'ok', 0, [], []) };
    const { ttlMs } = this.options;
    const charges: Charge[] = charged.map(({ entry, amount }) => ({ counter: counterOf(entry.limit, entry.identity, now, ttlMs), amount }));
    const outcome = await this.context.guard.decide({ charges, dryRun: false, adjustments }, (settled) => settled);
    if (outcome.kind === 'failed') return { decision: failedDecision(outcome.failure) };
    const { result, failure } = outcome;
    const decision = evaluate(charged.map(({ entry }) => entry), charges, result, result.allowed);
    if (!failure) return { decision, ...(result.allowed && { chargedAt: result.now }) };
    decision.fallback = failure.fallback;
    decision.error = failure.error;
    return { decision };
  }
}
