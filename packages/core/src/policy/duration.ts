import { ConfigurationError } from '../errors.js';
import { describeValue } from '../util/describe-value.js';

/** A duration: milliseconds as a number, or a string such as `'500ms'`, `'30s'`, `'1m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${DurationUnit}`;
type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Parses a duration into whole milliseconds; `what` names the option in the error message. */
export function parseDuration(value: unknown, what: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim());
    if (!match) {
      throw new ConfigurationError(`${what}: "${value}" is not a duration; use milliseconds or a string like '30s', '1m', '1h', '1d'`);
    }
    ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  } else {
    throw new ConfigurationError(`${what}: expected a duration (milliseconds or a string like '1m'), got ${describeValue(value)}`);
  }
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new ConfigurationError(`${what}: a duration must be a whole, positive number of milliseconds, got ${String(value)}`);
  }
  return ms;
}
