import type { LimitConfig } from '@tollgate/core';

/**
 * The brief's AI policy, for stores' own tests of round trips, keys and memory: requests per minute
 * and hour, tokens per minute and hour, USD per day, requests per IP, leases in flight. Seven limits
 * over two scopes, so one decision touches every algorithm a store implements.
 */
export const AI_POLICY: readonly LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' },
  { name: 'rph', scope: 'user', resource: 'requests', limit: 200, window: '1h' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 50_000, window: '1m' },
  { name: 'tph', scope: 'user', resource: 'tokens', limit: 500_000, window: '1h' },
  { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day' } },
  { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 60, window: '1m' },
  { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 4 },
];
