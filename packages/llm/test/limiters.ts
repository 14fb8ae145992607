import { createLimiter, type Limiter, type LimitConfig, type LimiterOptions } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import type { LlmPriceSource } from '../src/index.js';

/** A limiter with a per-user request rate, token rate and daily USD budget (and `more` limits), priced by `prices`. */
export function limiterWith(prices: LlmPriceSource, extra: Pick<LimiterOptions, 'degrade'> = {}, more: LimitConfig[] = []): Limiter {
  return createLimiter({
    store: new MemoryStore(),
    limits: [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' },
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1_000_000, window: '1m' },
      { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day' } },
      ...more,
    ],
    ...extra,
    prices,
  });
}

