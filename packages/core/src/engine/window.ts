import type { CounterAlgorithm } from '../store.js';
import type { CounterModel } from './model.js';
import { addToSeries, countBelow, dropFirst, keyFreeing, takeFromSeries } from './series.js';

type WindowAlgorithm = Extract<CounterAlgorithm, { type: 'window' }>;

/** Amount per fixed segment (segment `i` covers `[i * segmentMs, (i + 1) * segmentMs)`). */
export interface WindowState {
  /** Segment indexes, ascending. */
  i: number[];
  /** Amount charged in each segment. */
  a: number[];
}

/**
 * Sliding window over segments. A segment counts, in full, while any part of it lies inside the
 * window: the count is never below the exact count of the last `windowMs`, so this never
 * over-admits. The price is under-admission: a charge keeps counting for up to one segment after
 * it left the window. State holds at most `windowMs / segmentMs + 1` numbers.
 */
export const windowModel: CounterModel<WindowState, WindowAlgorithm> = {
  prune(state, { windowMs, segmentMs }, now) {
    if (!state) return undefined;
    // Segment i overlaps the window (now - windowMs, now] while i >= this.
    const oldest = Math.floor((now - windowMs) / segmentMs);
    const expired = countBelow(state.i, oldest);
    if (expired === state.i.length) return undefined;
    dropFirst(state.i, state.a, expired);
    return state;
  },

  used(state) {
    let sum = 0;
    if (state) for (const amount of state.a) sum += amount;
    return sum;
  },

  resetAt: (state, algorithm, now) => (state ? windowModel.expiresAt(state, algorithm) : now),

  retryAt(state, algorithm, need, now) {
    if (need > algorithm.limit) return Infinity;
    const excess = windowModel.used(state, algorithm, now) + need - algorithm.limit;
    if (!state || excess <= 0) return now;
    return segmentEnd(keyFreeing(state.i, state.a, excess)!, algorithm);
  },

  add(state, { segmentMs }, amount, now) {
    const segment = Math.floor(now / segmentMs);
    if (!state) return { i: [segment], a: [amount] };
    addToSeries(state.i, state.a, segment, amount);
    return state;
  },

  refund(state, { segmentMs }, amount, at) {
    if (!state) return undefined;
    takeFromSeries(state.i, state.a, Math.floor(at / segmentMs), amount);
    return state.i.length === 0 ? undefined : state;
  },

  expiresAt: (state, algorithm) => segmentEnd(state.i[state.i.length - 1]!, algorithm),

  chargeExpiresAt: (algorithm, _amount, now) => segmentEnd(Math.floor(now / algorithm.segmentMs), algorithm),
};

/** When segment `i` stops counting: once the window's start has passed the segment's end. */
function segmentEnd(i: number, { segmentMs, windowMs }: WindowAlgorithm): number {
  return (i + 1) * segmentMs + windowMs;
}
