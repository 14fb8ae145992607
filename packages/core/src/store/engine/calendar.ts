import { StoreError } from '../../errors.js';
import type { CounterAlgorithm } from '../contract.js';
import type { CounterModel } from './model.js';

type CalendarAlgorithm = Extract<CounterAlgorithm, { type: 'calendar' }>;

/** Usage within one period `[p, e)`. */
export interface CalendarState {
  p: number;
  e: number;
  u: number;
}

/**
 * The index `i` of the period `[periods[i], periods[i + 1])` that holds the store's time `now`
 * (an index rather than a pair: it is looked up several times per decision).
 */
function currentPeriod({ periods }: CalendarAlgorithm, now: number): number {
  for (let i = 0; i + 1 < periods.length; i++) {
    if (periods[i]! <= now && now < periods[i + 1]!) return i;
  }
  throw new StoreError(
    `the store's time ${new Date(now).toISOString()} is outside the calendar periods the limiter sent: the limiter's clock and the store's disagree by more than a period`,
  );
}

/** When the period holding `now` ends. */
function currentEnd(algorithm: CalendarAlgorithm, now: number): number {
  return algorithm.periods[currentPeriod(algorithm, now) + 1]!;
}

/** Calendar periods (a day in a time zone): usage resets when a new period starts. */
export const calendarModel: CounterModel<CalendarState, CalendarAlgorithm> = {
  prune: (state, _algorithm, now) => (state && state.p <= now && now < state.e ? state : undefined),

  used: (state) => state?.u ?? 0,

  resetAt: (_state, algorithm, now) => currentEnd(algorithm, now),

  retryAt(state, algorithm, need, now) {
    if (need > algorithm.limit) return Infinity;
    if ((state?.u ?? 0) + need <= algorithm.limit) return now;
    return currentEnd(algorithm, now);
  },

  add(state, algorithm, amount, now) {
    if (state) {
      state.u += amount;
      return state;
    }
    const i = currentPeriod(algorithm, now);
    return { p: algorithm.periods[i]!, e: algorithm.periods[i + 1]!, u: amount };
  },

  refund(state, _algorithm, amount, at) {
    if (!state || at < state.p || at >= state.e) return state;
    state.u -= Math.min(amount, state.u);
    return state.u === 0 ? undefined : state;
  },

  expiresAt: (state) => state.e,

  chargeExpiresAt: (algorithm, _amount, now) => currentEnd(algorithm, now),
};
