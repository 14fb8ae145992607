// Bundled for the edge-runtime test: the code a Next.js proxy or a Worker would ship.
import { createLimiter } from '@tollgate/core';
import { Redis } from '@upstash/redis';
import { UpstashStore } from '../../src/index.js';

/** Makes `count` decisions for `user` through the bridge and reports each one's outcome. */
export async function decide(url: string, token: string, prefix: string, user: string, count: number) {
  const store = new UpstashStore({ client: new Redis({ url, token, retry: false }), prefix });
  const limiter = createLimiter({
    store,
    limits: [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' },
      { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day', timeZone: 'America/New_York' } },
    ],
  });
  const outcomes = [];
  for (let i = 0; i < count; i++) {
    const decision = await limiter.acquire({ user }, { cost: 0.01 });
    if (decision.lease) await decision.lease.release();
    outcomes.push({ allowed: decision.allowed, reason: decision.reason, cached: decision.cached ?? false, deniedBy: decision.deniedBy.map((state) => state.name) });
  }
  return outcomes;
}
