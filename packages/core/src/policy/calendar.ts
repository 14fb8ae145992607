import { ConfigurationError } from '../errors.js';

/** How often a calendar limit resets. */
export type CalendarUnit = 'day' | 'week' | 'month';

/**
 * A calendar reset: usage starts again at local midnight in `timeZone` (weeks start on Monday, months
 * on the 1st). DST-correct: a day is whatever the zone says it is (23, 24 or 25 hours).
 *
 * @example { every: 'day', timeZone: 'America/New_York' }
 */
export interface CalendarReset {
  every: CalendarUnit;
  /**
   * An IANA time zone. Never the server's local zone, so every server agrees.
   * @default 'UTC'
   */
  timeZone?: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Longer than any period of the unit can be, DST and odd historical offsets included. */
const LONGEST: Record<CalendarUnit, number> = { day: DAY + 3 * HOUR, week: 7 * DAY + 3 * HOUR, month: 31 * DAY + 3 * HOUR };

/**
 * Finds period boundaries of one calendar reset. Boundaries are the instants where the local date's
 * period label changes, found by binary search over `Intl` (no time-zone data of our own), and
 * cached until the clock leaves the current period.
 */
export class CalendarPeriods {
  private readonly format: Intl.DateTimeFormat;
  private cached: number[] | undefined;

  constructor(
    readonly every: CalendarUnit,
    readonly timeZone: string,
  ) {
    if (!(every in LONGEST)) {
      throw new ConfigurationError(`reset.every must be 'day', 'week' or 'month', got ${JSON.stringify(every)}`);
    }
    try {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
      });
    } catch (cause) {
      throw new ConfigurationError(`reset.timeZone "${timeZone}" is not an IANA time zone (e.g. 'UTC', 'America/New_York')`, {
        cause,
      });
    }
  }

  /**
   * Four consecutive period starts: the previous period, the current one (holding `now`), the next
   * one, and the end of the next. A store with a clock up to a period off still finds its period.
   */
  around(now: number): readonly number[] {
    const cached = this.cached;
    if (cached && cached[1]! <= now && now < cached[2]!) return cached;
    const start = this.startOf(now);
    const end = this.endOf(now);
    this.cached = [this.startOf(start - 1), start, end, this.endOf(end)];
    return this.cached;
  }

  /** A number that grows with the local date and is equal within one period. */
  private label(time: number): number {
    let year = 0;
    let month = 0;
    let day = 0;
    for (const part of this.format.formatToParts(time)) {
      if (part.type === 'year') year = Number(part.value);
      else if (part.type === 'month') month = Number(part.value);
      else if (part.type === 'day') day = Number(part.value);
    }
    if (this.every === 'month') return year * 12 + month;
    const dayNumber = Date.UTC(year, month - 1, day) / DAY;
    // 1970-01-01 was a Thursday; weeks start on Monday.
    return this.every === 'day' ? dayNumber : dayNumber - ((dayNumber + 3) % 7);
  }

  /** The first instant whose label equals `time`'s. */
  private startOf(time: number): number {
    const target = this.label(time);
    return this.firstAtLeast(time - LONGEST[this.every], time, target);
  }

  /** The first instant after `time` with a later label. */
  private endOf(time: number): number {
    const target = this.label(time) + 1;
    return this.firstAtLeast(time, time + LONGEST[this.every], target);
  }

  /** Binary search in `(below, atLeast]` for the first instant whose label is at least `target`. */
  private firstAtLeast(below: number, atLeast: number, target: number): number {
    while (atLeast - below > 1) {
      const middle = Math.floor((below + atLeast) / 2);
      if (this.label(middle) >= target) atLeast = middle;
      else below = middle;
    }
    return atLeast;
  }
}
