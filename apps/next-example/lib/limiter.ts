import { createLimiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';

/**
 * The chat route's limits, per API key. The memory store keeps the counters in this server process:
 * enough for one `next start`; a fleet (or serverless functions) shares a Redis or Upstash store.
 */
export const chatLimiter = createLimiter({
  store: new MemoryStore(),
  limits: [
    { name: 'rpm', scope: 'apiKey', resource: 'requests', limit: 5, window: '1m' },
    { name: 'tpm', scope: 'apiKey', resource: 'tokens', limit: 20_000, window: '1m' },
    { name: 'daily-usd', scope: 'apiKey', resource: 'cost', limit: 1, reset: { every: 'day', timeZone: 'UTC' } },
    { name: 'inflight', scope: 'apiKey', resource: 'concurrency', limit: 1 },
  ],
  degrade: {
    budget: 'daily-usd',
    steps: [
      { below: 0.5, model: 'demo-large', maxTokens: 1024 },
      { model: 'demo-small', maxTokens: 256 },
    ],
  },
});

/** Every API route's limit, applied in `proxy.ts` before any route runs. */
export const apiLimiter = createLimiter({
  store: new MemoryStore(),
  limits: [{ name: 'api-rpm', scope: 'apiKey', resource: 'requests', limit: 30, window: '1m' }],
});
