import type { DegradeStep } from '../policy/degrade.js';
import type { StoreError } from '../errors.js';
import type { CompiledLimit, Resource } from '../policy/limits.js';
import type { Failure, StoreErrorPolicy } from '../store/failure-policy.js';
import type { DecisionReason, LimitState } from './decision-types.js';
import type { Lease } from './lease-types.js';
import type { RequestDecision } from './limiter-types.js';
import { resetAfterCharge } from '../store/engine/index.js';
import type { Charge, Counter, IdentityKey, StoreResult } from '../store/contract.js';

/** One applicable limit of one call, with the identity it counts under and its counter. */
export interface Applicable {
  readonly limit: CompiledLimit;
  readonly identity: IdentityKey;
  /**
   * The counter as the call built it. A lease refunds and frees its slots on these (a refund or a
   * release lands on the state the charge went to, whatever the time now); only new charges build
   * counters afresh, since a calendar counter's periods move with the clock.
   */
  readonly counter: Counter;
}

/** Ms until `retryAt`, at least 1: a refusal always asks the caller to wait. */
export function waitMs(retryAt: number, now: number): number {
  return retryAt === Infinity ? Infinity : Math.max(1, Math.ceil(retryAt - now));
}

/**
 * The longest a refusal on a concurrency limit asks a caller to wait. A slot frees the moment any
 * lease ends, usually within a second or two; the oldest lease's TTL (when a crashed holder's slot
 * would free at the latest) would tell clients to give up on a limit that is about to admit them.
 */
export const CONCURRENCY_RETRY_MS = 1_000;

/** The wait a refusing limit reports: exact, but never longer than the concurrency hint for slots. */
function retryHint(resource: Resource, wait: number): number {
  return resource === 'concurrency' && wait !== Infinity ? Math.min(wait, CONCURRENCY_RETRY_MS) : wait;
}

/**
 * A decision as the limiter hands it out. Every decision has the same fields in the same order
 * (absent ones `undefined`), so the code reading decisions sees one object shape, and filling in a
 * decision's tier or lease does not grow it.
 */
export class DecisionRecord implements RequestDecision {
  fallback: StoreErrorPolicy | undefined = undefined;
  error: StoreError | undefined = undefined;
  cached: boolean | undefined = undefined;
  tier: string | undefined = undefined;
  degrade: DegradeStep | undefined = undefined;
  lease: Lease | undefined = undefined;

  constructor(
    public allowed: boolean,
    public reason: DecisionReason,
    public retryAfterMs: number,
    public deniedBy: LimitState[],
    public limits: LimitState[],
  ) {}
}

/** Turns a store result into limit states and the refusal summary. */
export function evaluate(
  applicable: readonly Applicable[],
  charges: readonly Charge[],
  result: StoreResult,
  committed: boolean,
): DecisionRecord {
  const { now, readings } = result;
  const limits: LimitState[] = new Array(readings.length);
  let deniedBy: LimitState[] | undefined;
  let overBudget = false;
  for (let i = 0; i < readings.length; i++) {
    const { limit } = applicable[i]!;
    const reading = readings[i]!;
    const used = reading.used + (committed ? charges[i]!.amount : 0);
    const { capacity } = limit;
    const refuses = reading.retryAt > now;
    // Every state has the same keys in the same order (absent ones undefined): one object shape.
    const state: LimitState = {
      name: limit.name,
      scope: limit.scope,
      resource: limit.resource,
      tool: limit.tool,
      limit: capacity / limit.unitScale,
      used: used / limit.unitScale,
      remaining: Math.max(0, capacity - used) / limit.unitScale,
      resetAt: committed ? resetAfterCharge(charges[i]!.counter.algorithm, charges[i]!.amount, reading.resetAt, now) : reading.resetAt,
      windowMs: limit.windowMs,
      retryAfterMs: refuses ? retryHint(limit.resource, waitMs(reading.retryAt, now)) : undefined,
    };
    if (refuses) {
      (deniedBy ??= []).push(state);
      if (reading.used > capacity) overBudget = true;
    }
    limits[i] = state;
  }
  if (deniedBy === undefined) return new DecisionRecord(true, 'ok', 0, [], limits);
  deniedBy.sort((a, b) => b.retryAfterMs! - a.retryAfterMs!);
  // Each limit's pass time only moves earlier as time passes, so all pass once the slowest does.
  const refusal = new DecisionRecord(false, overBudget ? 'over-budget' : 'limited', deniedBy[0]!.retryAfterMs!, deniedBy, limits);
  if (result.cached) refusal.cached = true;
  return refusal;
}

/** A decision for a batch the store could not make, per the failure policy. */
export function failedDecision(failure: Failure): DecisionRecord {
  const allowed = failure.fallback === 'allow';
  // Store failures are usually brief; a second is a hint, not a promise.
  const decision = new DecisionRecord(allowed, failure.reason, allowed ? 0 : 1000, [], []);
  decision.fallback = failure.fallback;
  decision.error = failure.error;
  return decision;
}
