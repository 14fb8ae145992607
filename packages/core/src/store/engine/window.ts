import type { CounterAlgorithm } from '../contract.js';
import type { CounterModel } from './model.js';
import { addToSeries, keyFreeing, lastKey, pruneBelow, seriesOf, seriesSum, takeFromSeries, type Series } from './series.js';

type WindowAlgorithm = Extract<CounterAlgorithm, { type: 'window' }>;

/** Amount per fixed segment, as a series keyed by segment (segment `i` covers `[i * segmentMs, (i + 1) * segmentMs)`). */
export type WindowState = Series;

/**
 * Sliding window over segments. A segment counts, in full, while any part of it lies inside the
 * window: the count is never below the exact count of the last `windowMs`, so this never
 * over-admits. The price is under-admission: a charge keeps counting for up to one segment after
 * it left the window. State holds one entry per segment, at most `windowMs / segmentMs + 1`.
 */
export const windowModel: CounterModel<WindowState, WindowAlgorithm> = {
  // Segment i overlaps the window (now - windowMs, now] while i >= floor((now - windowMs) / segmentMs).
  prune: (state, { windowMs, segmentMs }, now) => (state ? pruneBelow(state, Math.floor((now - windowMs) / segmentMs)) : undefined),

  used: (state) => (state ? seriesSum(state) : 0),

  resetAt: (state, algorithm, now) => (state ? windowModel.expiresAt(state, algorithm) : now),

  retryAt(state, algorithm, need, now) {
    if (need > algorithm.limit) return Infinity;
    const excess = windowModel.used(state, algorithm, now) + need - algorithm.limit;
    if (!state || excess <= 0) return now;
    return segmentEnd(keyFreeing(state, excess)!, algorithm);
  },

  add(state, { segmentMs }, amount, now) {
    const segment = Math.floor(now / segmentMs);
    if (!state) return seriesOf(segment, amount);
    addToSeries(state, segment, amount);
    return state;
  },

  refund(state, { segmentMs }, amount, at) {
    if (!state) return undefined;
    return takeFromSeries(state, Math.floor(at / segmentMs), amount);
  },

  expiresAt: (state, algorithm) => segmentEnd(lastKey(state), algorithm),

  chargeExpiresAt: (algorithm, _amount, now) => segmentEnd(Math.floor(now / algorithm.segmentMs), algorithm),
};

/** When segment `i` stops counting: once the window's start has passed the segment's end. */
function segmentEnd(i: number, { segmentMs, windowMs }: WindowAlgorithm): number {
  return (i + 1) * segmentMs + windowMs;
}
