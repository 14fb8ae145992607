import { createLimiter, staticPrices, type LimitConfig } from '@tollgate/core';
import { RedisStore } from '@tollgate/store-redis';
import { Redis } from 'ioredis';

/** The brief's policy: requests, tokens and USD per user, requests per IP, leases in flight. */
const policy: LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 50_000, window: '1m' },
  { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day', timeZone: 'UTC' } },
  { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 60, window: '1m' },
  { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 4 },
];

/**
 * Bytes Redis holds per tracked identity (`MEMORY USAGE` of its keys), for the brief's policy after
 * `requests` full lease cycles per user: the counters are O(1) in requests, the request log grows
 * with requests in its window (at most the limit), the slot set with leases in flight.
 */
export async function redisMemoryPerIdentity(port: number, users: number, requests: number): Promise<number> {
  const client = new Redis({ port, host: '127.0.0.1' });
  await client.flushall();
  const limiter = createLimiter({ store: new RedisStore({ client }), limits: policy, prices: staticPrices({ m: { input: 2.5, output: 10 } }) });
  for (let r = 0; r < requests; r++) {
    await Promise.all(
      Array.from({ length: users }, async (_, u) => {
        const decision = await limiter.acquire({ user: `user-${u}`, ip: `10.0.${u >> 8}.${u & 255}` }, { tokens: 500, model: 'm' });
        await decision.lease?.record({ inputTokens: 200, outputTokens: 100 });
        await decision.lease?.release();
      }),
    );
  }
  // Every key of a user identity: its hash, and the spill key of any long log (same hash tag).
  let bytes = 0;
  const keys = await client.keys('tollgate:{user:*');
  for (const key of keys) bytes += Number(await client.memory('USAGE', key, 'SAMPLES', '0'));
  const identities = new Set(keys.map((key) => key.slice(0, key.indexOf('}') + 1)));
  await client.quit();
  return Math.round(bytes / identities.size);
}
