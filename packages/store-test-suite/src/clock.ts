/** A clock the suite moves by hand; stores and limiters under test read it. */
export interface ManualClock {
  (): number;
  advance(ms: number): void;
}

/** Starts mid-day UTC, so that calendar limits do not roll over by accident. */
export function manualClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)): ManualClock {
  let now = start;
  const clock = (() => now) as ManualClock;
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}
