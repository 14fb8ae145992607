import { describeValue, invalidInput } from './errors.js';

/** A parsed JSON object (request bodies, responses, stream events). */
export type Json = Record<string, unknown>;

/** Whether `value` is a JSON object (not null, not an array). */
export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A request's count (`max_tokens`, `n`): absent or null is `undefined`; anything but a positive whole number is refused. */
export function positiveInteger(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalidInput(`${what} must be a positive whole number, got ${describeValue(value)}`);
  return value;
}

/** `value` as a JSON object; anything else is refused, naming `what` it should have been. */
export function requireObject(value: unknown, what: string): Json {
  if (!isObject(value)) throw invalidInput(`${what} must be an object, got ${describeValue(value)}`);
  return value;
}

/** The strings among `values`, joined: the text of a response's parts, whatever else they hold. */
/** The non-empty strings among `values`, in order: the names of a response's tool calls. */
export function names(values: unknown[]): string[] {
  return values.filter((value): value is string => typeof value === 'string' && value !== '');
}

export function joinStrings(values: unknown[]): string {
  return values.filter((value): value is string => typeof value === 'string').join('');
}
