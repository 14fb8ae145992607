import type { Decision } from './decision-types.js';
import type { Demand, Usage } from '../pricing/demand.js';

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
  /**
   * Whether a call's usage is unknown (a `partial` record under `onUnknownUsage: 'reservation'`,
   * or a record that failed): release then keeps the whole reservation charged.
   */
  unknownUsage: boolean;
}

/** Options of `lease.record`. */
export interface RecordOptions {
  /**
   * The usage is a lower bound, not the provider's count: a stream cut off before its usage
   * arrived, or a response without usable usage, counted from what was seen. What it costs is
   * the lease's `onUnknownUsage` rule: by default the lease keeps its whole reservation.
   * @default false
   * @example await lease.record(await meter.usage(), { partial: !meter.complete })
   */
  partial?: boolean;
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
   * overrun is never lost, even after release). One store call at most. A model the price source
   * does not know (a provider's dated or prefixed name) is priced as the lease's model. Throws
   * `InvalidInputError` for bad usage, `UnknownModelError` for usage that cannot be priced and
   * `StoreError` when the store fails; a record that throws charges nothing itself, and the lease
   * keeps its whole reservation at release, since the call's usage is unknown. A partial or failed
   * record after the release charges back what the release refunded.
   */
  record(usage: Usage, options?: RecordOptions): Promise<RecordResult>;
  /**
   * Checks and counts one more LLM call before making it: refused past `maxSteps`, and, given a
   * demand, reserves its tokens and cost too (all or nothing).
   */
  step(demand?: Pick<Demand, 'tokens' | 'inputTokens' | 'outputTokens' | 'cost' | 'model'>): Promise<Decision>;
  /** Checks and charges one call of `name` against `toolCalls` limits and `maxToolCalls`, before the tool runs. */
  tool(name: string): Promise<Decision>;
  /**
   * Records the last call's usage and releases the lease, in one store call where `record` and
   * `release` would make two: for a lease that serves one call (a proxied request). On a lease
   * already released, or with other calls still settling, it records and then releases. Usage
   * that cannot be counted throws after the release, which keeps the reservation.
   */
  finish(usage: Usage, options?: RecordOptions & ReleaseOptions): Promise<RecordResult>;
  /**
   * Refunds the unused reservation and frees the slot; with `refundRequests`, the request itself
   * is refunded too (it did not count: its response failed). Safe to call twice (the first call's
   * options hold); one store call at most.
   */
  release(options?: ReleaseOptions): Promise<void>;
}

/** Options of `lease.release`. */
export interface ReleaseOptions {
  /**
   * Refund what `acquire` charged against `requests` limits, as if the request had not been made:
   * for a response that failed through no fault of the caller (express-rate-limit's
   * `skipFailedRequests`). Tokens and cost are settled as always: what was used stays charged.
   * @default false
   * @example await lease.release({ refundRequests: response.status >= 500 })
   */
  refundRequests?: boolean;
}
