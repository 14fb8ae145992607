import type { LedgerFilter } from './ledger-types.js';

export const GROUPINGS = ['day', 'model', 'user', 'team', 'key'] as const;
export type Grouping = (typeof GROUPINGS)[number];

/** A query of `GET /admin/api/spend`, checked. */
export interface SpendQuery {
  readonly filter: LedgerFilter;
  /** Rows: at most this many (all of them in CSV, unless given). */
  readonly limit: number | undefined;
  readonly offset: number;
  readonly groupBy: Grouping | undefined;
  readonly format: 'json' | 'csv';
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1_000;
const PARAMETERS = ['user', 'team', 'key', 'model', 'from', 'to', 'limit', 'offset', 'groupBy', 'format'];
/** A date (UTC midnight) or a date and time with its zone: what `Date.parse` reads the same everywhere. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A query `GET /admin/api/spend` cannot read: a 400 saying what to fix. */
export class SpendQueryError extends Error {
  readonly statusCode = 400;
  constructor(message: string) {
    super(message);
    this.name = 'SpendQueryError';
  }
}

const bad = (message: string) => new SpendQueryError(message);

function time(name: string, value: string): number {
  const parsed = ISO_TIME.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(parsed)) throw bad(`${name} must be a date (2026-12-01) or a time with its zone (2026-12-01T09:30:00Z), got ${JSON.stringify(value)}.`);
  return parsed;
}

function whole(name: string, value: string, min: number, max: number): number {
  const parsed = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(parsed >= min && parsed <= max)) throw bad(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
  return parsed;
}

/**
 * Reads a spend query string's parameters, or throws `SpendQueryError` saying what to fix: an
 * unknown or repeated parameter, an empty value, a bad time, limit, offset, grouping or format.
 */
export function spendQuery(query: Record<string, unknown>): SpendQuery {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    if (!PARAMETERS.includes(name)) throw bad(`Unknown parameter ${JSON.stringify(name)}: use ${PARAMETERS.join(', ')}.`);
    if (typeof value !== 'string') throw bad(`${name} is given more than once: give it once.`);
    if (value === '') throw bad(`${name} is empty: give it a value, or leave it out.`);
    values[name] = value;
  }
  const from = values.from === undefined ? undefined : time('from', values.from);
  const to = values.to === undefined ? undefined : time('to', values.to);
  if (from !== undefined && to !== undefined && from >= to) throw bad('from must be before to (from is inclusive, to exclusive).');
  const groupBy = values.groupBy;
  if (groupBy !== undefined && !GROUPINGS.includes(groupBy as Grouping)) throw bad(`groupBy must be one of ${GROUPINGS.join(', ')}, got ${JSON.stringify(groupBy)}.`);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw bad(`format must be json or csv, got ${JSON.stringify(format)}.`);
  if (groupBy !== undefined && (values.limit !== undefined || values.offset !== undefined)) throw bad('limit and offset page rows: leave them out with groupBy, which returns every group.');
  const { user, team, key, model } = values;
  return {
    filter: { ...(user !== undefined && { user }), ...(team !== undefined && { team }), ...(key !== undefined && { key }), ...(model !== undefined && { model }), ...(from !== undefined && { from }), ...(to !== undefined && { to }) },
    limit: values.limit === undefined ? (format === 'csv' ? undefined : DEFAULT_LIMIT) : whole('limit', values.limit, 1, MAX_LIMIT),
    offset: values.offset === undefined ? 0 : whole('offset', values.offset, 0, 1_000_000_000),
    groupBy: groupBy as Grouping | undefined,
    format,
  };
}
