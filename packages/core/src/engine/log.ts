import type { CounterAlgorithm } from '../store.js';
import type { CounterModel } from './model.js';
import { addToSeries, countBelow, dropFirst, keyFreeing, takeFromSeries } from './series.js';

type LogAlgorithm = Extract<CounterAlgorithm, { type: 'log' }>;

/** Charges in time order; charges made in the same millisecond are merged. */
export interface LogState {
  /** Charge times, ascending. */
  t: number[];
  /** Amount charged at each time. */
  a: number[];
  /** Sum of `a`, kept so reading the count is O(1). */
  s: number;
}

/** Exact sliding-window log: a charge at `t` counts while `now < t + windowMs`. */
export const logModel: CounterModel<LogState, LogAlgorithm> = {
  prune(state, { windowMs }, now) {
    if (!state) return undefined;
    const expired = countBelow(state.t, now - windowMs + 1);
    if (expired === state.t.length) return undefined;
    for (let i = 0; i < expired; i++) state.s -= state.a[i]!;
    dropFirst(state.t, state.a, expired);
    return state;
  },

  used: (state) => state?.s ?? 0,

  resetAt: (state, algorithm, now) => (state ? logModel.expiresAt(state, algorithm) : now),

  retryAt(state, { limit, windowMs }, need, now) {
    if (need > limit) return Infinity;
    const excess = (state?.s ?? 0) + need - limit;
    if (!state || excess <= 0) return now;
    return keyFreeing(state.t, state.a, excess)! + windowMs;
  },

  add(state, _algorithm, amount, now) {
    if (!state) return { t: [now], a: [amount], s: amount };
    addToSeries(state.t, state.a, now, amount);
    state.s += amount;
    return state;
  },

  refund(state, _algorithm, amount, at) {
    if (!state) return undefined;
    state.s -= takeFromSeries(state.t, state.a, at, amount);
    return state.t.length === 0 ? undefined : state;
  },

  expiresAt: (state, { windowMs }) => state.t[state.t.length - 1]! + windowMs,

  chargeExpiresAt: ({ windowMs }, _amount, now) => now + windowMs,
};
