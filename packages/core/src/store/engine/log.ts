import type { CounterAlgorithm } from '../contract.js';
import type { CounterModel } from './model.js';
import { addToSeries, keyFreeing, lastKey, pruneBelow, seriesOf, seriesSum, takeFromSeries, type Series } from './series.js';

type LogAlgorithm = Extract<CounterAlgorithm, { type: 'log' }>;

/** Charges in time order (a series keyed by charge time); charges made in the same millisecond are merged. */
export type LogState = Series;

/** Exact sliding-window log: a charge at `t` counts while `now < t + windowMs`. */
export const logModel: CounterModel<LogState, LogAlgorithm> = {
  prune: (state, { windowMs }, now) => (state ? pruneBelow(state, now - windowMs + 1) : undefined),

  used: (state) => (state ? seriesSum(state) : 0),

  resetAt: (state, { windowMs }, now) => (state ? lastKey(state) + windowMs : now),

  retryAt(state, { limit, windowMs }, need, now) {
    if (need > limit) return Infinity;
    if (!state) return now;
    const excess = seriesSum(state) + need - limit;
    return excess <= 0 ? now : keyFreeing(state, excess)! + windowMs;
  },

  add(state, _algorithm, amount, now) {
    if (!state) return seriesOf(now, amount);
    addToSeries(state, now, amount);
    return state;
  },

  refund(state, _algorithm, amount, at) {
    if (!state) return undefined;
    return takeFromSeries(state, at, amount);
  },

  expiresAt: (state, { windowMs }) => lastKey(state) + windowMs,

  chargeExpiresAt: ({ windowMs }, _amount, now) => now + windowMs,
};
