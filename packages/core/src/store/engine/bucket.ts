import type { CounterAlgorithm } from '../contract.js';
import type { CounterModel } from './model.js';

type BucketAlgorithm = Extract<CounterAlgorithm, { type: 'bucket' }>;

/**
 * The theoretical arrival time, exactly: `tat + rem / limit` ms (0 <= rem < limit), when the bucket
 * will be full again.
 */
export interface BucketState {
  tat: number;
  rem: number;
}

/**
 * Token bucket as GCRA: each unit pushes the arrival time forward by `windowMs / limit` ms, and a
 * charge fits while it stays within `burst` units of `now`. The arithmetic is in integers scaled by
 * `limit` (ms x limit), so `limit` units per `windowMs` and bursts of exactly `burst` hold whatever
 * the division, and every store computes the same numbers. `burst * windowMs` must stay below 2^53
 * (checked when the limit is compiled).
 */
export const bucketModel: CounterModel<BucketState, BucketAlgorithm> = {
  prune: (state, algorithm, now) => (state && backlog(state, algorithm, now) > 0 ? state : undefined),

  used: (state, algorithm, now) => (state ? Math.ceil(backlog(state, algorithm, now) / algorithm.windowMs) : 0),

  resetAt: (state, _algorithm, now) => (state ? fullAt(state) : now),

  retryAt(state, algorithm, need, now) {
    const { windowMs, limit, burst } = algorithm;
    if (need > burst) return Infinity;
    const excess = (state ? backlog(state, algorithm, now) : 0) - (burst - need) * windowMs;
    return excess <= 0 ? now : now + Math.ceil(excess / limit);
  },

  add(state, algorithm, amount, now) {
    return fill(state, algorithm, (state ? backlog(state, algorithm, now) : 0) + amount * algorithm.windowMs, now);
  },

  refund(state, algorithm, amount, at, now) {
    if (!state) return undefined;
    // Only what has not drained since the charge can still be in the bucket: never refund more.
    const refundable = Math.max(0, amount * algorithm.windowMs - (now - at) * algorithm.limit);
    const remaining = Math.max(0, backlog(state, algorithm, now) - refundable);
    return remaining > 0 ? fill(state, algorithm, remaining, now) : undefined;
  },

  expiresAt: (state) => fullAt(state),

  chargeExpiresAt({ windowMs, limit }, amount, now) {
    // As fill() then fullAt() would give for an empty bucket.
    const scaled = amount * windowMs;
    return now + Math.floor(scaled / limit) + (scaled % limit > 0 ? 1 : 0);
  },
};

/** What the bucket still holds at `now`, in ms x limit. */
function backlog(state: BucketState, { limit }: BucketAlgorithm, now: number): number {
  return Math.max(0, (state.tat - now) * limit + state.rem);
}

/** Sets the state to hold `scaled` (ms x limit) from `now`. */
function fill(state: BucketState | undefined, { limit }: BucketAlgorithm, scaled: number, now: number): BucketState {
  const tat = now + Math.floor(scaled / limit);
  const rem = scaled % limit;
  if (!state) return { tat, rem };
  state.tat = tat;
  state.rem = rem;
  return state;
}

/** The first whole ms at which the bucket is full. */
function fullAt(state: BucketState): number {
  return state.rem > 0 ? state.tat + 1 : state.tat;
}
