import type { CounterAlgorithm } from '../store.js';
import type { CounterModel } from './model.js';

type BucketAlgorithm = Extract<CounterAlgorithm, { type: 'bucket' }>;

/** The theoretical arrival time: when the bucket will be full again. */
export interface BucketState {
  tat: number;
}

/**
 * Token bucket as GCRA: each unit pushes `tat` forward by `windowMs / limit` ms; a charge fits while
 * `tat` stays within `burst` units of `now`. Whole milliseconds keep every store's arithmetic exact:
 * charges round their time up and refunds round down, so rounding never admits more.
 */
export const bucketModel: CounterModel<BucketState, BucketAlgorithm> = {
  prune: (state, _algorithm, now) => (state && state.tat > now ? state : undefined),

  used: (state, { limit, windowMs }, now) => (state ? Math.ceil(((state.tat - now) * limit) / windowMs) : 0),

  resetAt: (state, _algorithm, now) => state?.tat ?? now,

  retryAt(state, algorithm, need, now) {
    const tolerance = chargeMs(algorithm.burst, algorithm);
    const cost = chargeMs(need, algorithm);
    if (cost > tolerance) return Infinity;
    return Math.max(now, Math.max(state?.tat ?? now, now) + cost - tolerance);
  },

  add(state, algorithm, amount, now) {
    const tat = Math.max(state?.tat ?? now, now) + chargeMs(amount, algorithm);
    if (!state) return { tat };
    state.tat = tat;
    return state;
  },

  refund(state, { limit, windowMs }, amount, _at, now) {
    if (!state) return undefined;
    state.tat = Math.max(now, state.tat - Math.floor((amount * windowMs) / limit));
    return state.tat > now ? state : undefined;
  },

  expiresAt: (state) => state.tat,
};

/** Milliseconds of refill that `amount` units take, rounded up. */
function chargeMs(amount: number, { limit, windowMs }: BucketAlgorithm): number {
  return Math.ceil((amount * windowMs) / limit);
}
