/**
 * A short description of a bad value for error messages (never the whole of a huge string).
 *
 * @example describeValue(undefined) // 'undefined'
 * @example describeValue(NaN) // 'number NaN'
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a ${value.length}-character string` : JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
