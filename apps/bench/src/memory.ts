import { createLimiter, staticPrices, type LimitConfig } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { RateLimiterMemory, RateLimiterUnion } from 'rate-limiter-flexible';
import { compare, table } from './harness.js';

/**
 * Many callers, each well inside its limits: the common case a limiter must make cheap. Every
 * contender admits every request, so no one wins by refusing early.
 */
const IDENTITIES = 200_000;
const users = Array.from({ length: IDENTITIES }, (_, i) => `user-${i}`);
const user = (i: number) => users[i % IDENTITIES]!;

const fiveLimits: LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 600, window: '1m' },
  { name: 'rph', scope: 'user', resource: 'requests', limit: 10_000, window: '1h' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000_000, window: '1m' },
  { name: 'tph', scope: 'user', resource: 'tokens', limit: 100_000_000, window: '1h' },
  { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 10_000, reset: { every: 'day', timeZone: 'UTC' } },
];
const prices = staticPrices({ 'gpt-4o-mini': { input: 0.15, output: 0.6 } });

export async function benchMemory(): Promise<string> {
  const single = createLimiter({
    store: new MemoryStore(),
    limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 600, window: '1m' }],
  });
  const rlfSingle = new RateLimiterMemory({ points: 600, duration: 60 });

  const five = createLimiter({ store: new MemoryStore(), limits: fiveLimits, prices });
  const rlfUnion = new RateLimiterUnion(
    new RateLimiterMemory({ keyPrefix: 'rpm', points: 600, duration: 60 }),
    new RateLimiterMemory({ keyPrefix: 'rph', points: 10_000, duration: 3600 }),
    new RateLimiterMemory({ keyPrefix: 'tpm', points: 10_000_000, duration: 60 }),
    new RateLimiterMemory({ keyPrefix: 'tph', points: 100_000_000, duration: 3600 }),
    new RateLimiterMemory({ keyPrefix: 'usd', points: 10_000, duration: 86_400 }),
  );

  const singleResults = await compare([
    { name: 'rate-limiter-flexible RateLimiterMemory', run: (i) => rlfSingle.consume(user(i)) },
    { name: 'Tollgate MemoryStore (sliding log)', run: (i) => single.acquire({ user: user(i) }) },
  ]);
  const fiveResults = await compare([
    { name: 'rate-limiter-flexible RateLimiterUnion of 5', run: (i) => rlfUnion.consume(user(i)) },
    {
      name: 'Tollgate MemoryStore, 5 limits, acquire + release',
      run: async (i) => {
        const decision = await five.acquire({ user: user(i) }, { tokens: 1_000, model: 'gpt-4o-mini' });
        await decision.lease?.release();
      },
    },
  ]);
  return [
    table('(a) one request limit', singleResults, 'rate-limiter-flexible RateLimiterMemory'),
    table('(b) the five-limit AI policy: a full lease cycle against a union of five', fiveResults, 'rate-limiter-flexible RateLimiterUnion of 5'),
  ].join('\n\n');
}
