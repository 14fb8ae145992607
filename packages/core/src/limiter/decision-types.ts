import type { StoreError } from '../errors.js';
import type { Resource } from '../policy/limits.js';
import type { StoreErrorPolicy } from '../store/failure-policy.js';

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
