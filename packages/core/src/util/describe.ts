/**
 * A short description of a bad value for error messages (never the whole of a huge string).
 *
 * @example describe(undefined) // 'undefined'
 * @example describe(NaN) // 'number NaN'
 */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a ${value.length}-character string` : JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
