import { StoreError } from '../errors.js';
import type { CounterAlgorithm } from '../store.js';
import type { CounterModel } from './model.js';

type CalendarAlgorithm = Extract<CounterAlgorithm, { type: 'calendar' }>;

/** Usage within one period `[p, e)`. */
export interface CalendarState {
  p: number;
  e: number;
  u: number;
}

/** The period `[start, end)` of `periods` that holds `time`, or undefined. */
export function periodAt(periods: readonly number[], time: number): [start: number, end: number] | undefined {
  for (let i = 0; i + 1 < periods.length; i++) {
    if (periods[i]! <= time && time < periods[i + 1]!) return [periods[i]!, periods[i + 1]!];
  }
  return undefined;
}

function currentPeriod({ periods }: CalendarAlgorithm, now: number): [start: number, end: number] {
  const period = periodAt(periods, now);
  if (!period) {
    throw new StoreError(
      `the store's time ${new Date(now).toISOString()} is outside the calendar periods the limiter sent: the limiter's clock and the store's disagree by more than a period`,
    );
  }
  return period;
}

/** Calendar periods (a day in a time zone): usage resets when a new period starts. */
export const calendarModel: CounterModel<CalendarState, CalendarAlgorithm> = {
  prune: (state, _algorithm, now) => (state && state.p <= now && now < state.e ? state : undefined),

  used: (state) => state?.u ?? 0,

  resetAt: (_state, algorithm, now) => currentPeriod(algorithm, now)[1],

  retryAt(state, algorithm, need, now) {
    if (need > algorithm.limit) return Infinity;
    if ((state?.u ?? 0) + need <= algorithm.limit) return now;
    return currentPeriod(algorithm, now)[1];
  },

  add(state, algorithm, amount, now) {
    if (state) {
      state.u += amount;
      return state;
    }
    const [p, e] = currentPeriod(algorithm, now);
    return { p, e, u: amount };
  },

  refund(state, _algorithm, amount, at) {
    if (!state || at < state.p || at >= state.e) return state;
    state.u -= Math.min(amount, state.u);
    return state.u === 0 ? undefined : state;
  },

  expiresAt: (state) => state.e,

  chargeExpiresAt: (algorithm, _amount, now) => currentPeriod(algorithm, now)[1],
};
