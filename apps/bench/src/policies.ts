import type { Duration, LimitConfig } from '@tollgate/core';

type Rolling = readonly [name: string, limit: number, window: Duration];

/**
 * The five-limit AI policy every benchmark measures: two request windows, two token windows and a
 * daily USD budget, per user. Each backend sets its own numbers, high enough to admit its load.
 */
export function aiPolicy(requests: readonly [Rolling, Rolling], tokens: readonly [Rolling, Rolling], usdPerDay: number): LimitConfig[] {
  const rolling = (resource: 'requests' | 'tokens') => ([name, limit, window]: Rolling): LimitConfig => ({ name, scope: 'user', resource, limit, window });
  return [
    ...requests.map(rolling('requests')),
    ...tokens.map(rolling('tokens')),
    { name: 'daily-usd', scope: 'user', resource: 'cost', limit: usdPerDay, reset: { every: 'day', timeZone: 'UTC' } },
  ];
}
