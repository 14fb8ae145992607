import type { DegradeStep } from './degrade.js';
import type { StoreError } from './errors.js';
import type { CompiledLimit, Resource } from './limits.js';
import type { Failure, StoreErrorPolicy } from './runner.js';
import type { Lease } from './lease.js';
import { resetAfterCharge } from './engine/index.js';
import type { Charge, Counter, IdentityKey, StoreResult } from './store.js';

/** One limit as it stands for this caller. Amounts are in the limit's unit (USD for `cost`). */
export interface LimitState {
  name: string;
  scope: string;
  resource: Resource;
  /** The tool a `toolCalls` limit counts, if it counts one tool. */
  tool?: string;
  /** The most the limit holds (for a token bucket, its burst). */
  limit: number;
  /** What is in use. For an admitted request, this request included. */
  used: number;
  /** What is left: `limit - used`, never below 0. */
  remaining: number;
  /** Epoch ms when everything in use now will have expired. */
  resetAt: number;
  /** The rolling window, in ms (absent for calendar and concurrency limits). */
  windowMs?: number;
  /**
   * On a refusing limit: ms until it would admit the same demand (`Infinity` if it never can). For a
   * concurrency limit, at most `CONCURRENCY_RETRY_MS` (a slot frees whenever a lease ends).
   */
  retryAfterMs?: number;
}

/**
 * Why a decision came out as it did.
 * - `ok`: every limit admitted.
 * - `limited`: a limit refused (see `deniedBy`).
 * - `over-budget`: a limit refused that is already past its limit, which only an overrun (an
 *   upstream that ignored the output cap, or reported more than it was reserved) or a lowered
 *   limit can cause: operators count these to find a lying or misconfigured upstream.
 * - `lease-cap`: the lease's own cap on steps or tool calls refused.
 * - `released`: the lease was already released.
 * - `no-identity`: the caller's identity matches none of the policy's limits (and the policy's
 *   `anonymous` is `'refuse'`): no retry helps; identify the caller.
 * - `timeout` / `store-error`: the store failed and `onStoreError` (`'deny'` or `'allow'`) decided
 *   (see `fallback`). With `'local'`, the local store decides instead: `reason` is its verdict
 *   (`ok`, `limited`), and `fallback: 'local'` with `error` says that the store failed.
 */
export type DecisionReason = 'ok' | 'limited' | 'over-budget' | 'lease-cap' | 'released' | 'no-identity' | 'timeout' | 'store-error';

/** The outcome of evaluating every applicable limit at once. */
export interface Decision {
  allowed: boolean;
  reason: DecisionReason;
  /** 0 when allowed; otherwise ms until the same demand would pass (never 0; `Infinity` if it never can). */
  retryAfterMs: number;
  /** The limits that refused, most restrictive (longest wait) first. */
  deniedBy: LimitState[];
  /** Every limit the decision evaluated. Empty when the store failed and nothing was evaluated. */
  limits: LimitState[];
  /** When the store failed (whatever `reason` says): what `onStoreError` did about it. */
  fallback?: StoreErrorPolicy;
  /** When the store failed: the error. */
  error?: StoreError;
  /**
   * `true` when the store refused from its in-process deny cache, without a round trip: a refusal
   * it made moments ago for the same demand, replayed (the limit states are as of that refusal).
   */
  cached?: boolean;
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
