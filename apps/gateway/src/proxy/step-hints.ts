import type { DegradeStep } from '@tollgate/core';

/**
 * How long the step a caller's last decision saw stands in for a fresh read of it. A caller idle
 * for longer has its step read again (`check`), so a budget that emptied or reset while it was
 * idle (a new day, an admin reset, a window that slid past its spending) is seen at once.
 */
const FRESH_MS = 1_000;

/** A step as last seen for a caller: `step` is undefined when the ladder's budget did not apply. */
export interface SeenStep {
  readonly step: DegradeStep | undefined;
}

/**
 * The degradation step each caller's last decision saw, per user: what a busy caller's next
 * request is estimated with, instead of reading its step with a second store call. A hint only:
 * `steppedLimiter` decides again with the decision's own step when a refusal shows the hint was
 * stale. Bounded by the configured users; a new policy version starts empty.
 */
export class StepHints {
  private readonly byUser = new Map<string, { step: DegradeStep | undefined; at: number }>();

  /** The step last seen for `user`, if seen within the last second. */
  get(user: string, now: number): SeenStep | undefined {
    const seen = this.byUser.get(user);
    return seen !== undefined && now - seen.at < FRESH_MS ? seen : undefined;
  }

  remember(user: string, step: DegradeStep | undefined, now: number): void {
    const seen = this.byUser.get(user);
    if (seen === undefined) this.byUser.set(user, { step, at: now });
    else {
      seen.step = step;
      seen.at = now;
    }
  }

  /** Forgets every step (counters were reset: the steps seen no longer hold). */
  clear(): void {
    this.byUser.clear();
  }
}
