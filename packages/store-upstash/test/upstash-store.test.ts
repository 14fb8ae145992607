import { ConfigurationError, createLimiter, type LimitConfig } from '@tollgate/core';
import { ENGINE_LUA, ENGINE_SHA } from '@tollgate/redis-lua';
import { RedisStore } from '@tollgate/store-redis';
import { Redis as IORedis } from 'ioredis';
import { AI_POLICY } from '@tollgate/store-test-suite';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { UpstashStore } from '../src/index.js';
import { useBridge } from './support/bridge.js';

const http = useBridge();
const ioredis = new IORedis({ port: inject('redisPort'), host: '127.0.0.1' });
afterAll(() => ioredis.quit());

let run = 0;
let prefix = '';
beforeEach(() => {
  prefix = `u${++run}-${Date.now()}:`;
});

/** HTTP requests the bridge receives while `work` runs. */
async function requestsDuring(work: () => Promise<unknown>): Promise<number> {
  const before = http.bridge.requests.total;
  await work();
  return http.bridge.requests.total - before;
}

const policy = [...AI_POLICY];

describe('UpstashStore', () => {
  it('runs the one engine script of the tree: its SHA is what SCRIPT LOAD reports through HTTP', async () => {
    expect(await http.client().scriptLoad(ENGINE_LUA)).toBe(ENGINE_SHA);
  });

  for (const enableAutoPipelining of [true, false]) {
    it(`makes one HTTP request per decision, per record and per release (auto-pipelining ${enableAutoPipelining ? 'on' : 'off'})`, async () => {
      const store = new UpstashStore({ client: http.client({ enableAutoPipelining }), prefix });
      const limiter = createLimiter({ store, limits: policy });
      await limiter.acquire({ user: 'warm' }, { tokens: 10, cost: 0.01 }); // the script is on the server now
      let decision: Awaited<ReturnType<typeof limiter.acquire>> | undefined;
      expect(await requestsDuring(async () => (decision = await limiter.acquire({ user: 'u', ip: '203.0.113.9' }, { tokens: 1_000, cost: 0.02 })))).toBe(1);
      expect(decision!.limits).toHaveLength(7);
      expect(await requestsDuring(() => decision!.lease!.record({ inputTokens: 600, outputTokens: 900, cost: 0.03 }))).toBe(1);
      expect(await requestsDuring(() => decision!.lease!.release())).toBe(1);
      expect(await requestsDuring(() => limiter.check({ user: 'u', ip: '203.0.113.9' }))).toBe(1);
    });
  }

  it('sends the script itself once when the server does not have it (SCRIPT FLUSH), then EVALSHA again', async () => {
    const limiter = createLimiter({ store: new UpstashStore({ client: http.client(), prefix }), limits: policy });
    await ioredis.script('FLUSH');
    expect(await requestsDuring(async () => expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true))).toBe(2);
    expect(await ioredis.script('EXISTS', ENGINE_SHA)).toEqual([1]);
    expect(await requestsDuring(async () => expect((await limiter.acquire({ user: 'u' })).limits[0]!.used).toBe(2))).toBe(1);
  });

  it('refuses a caller known to be limited from its deny cache: zero requests, and the decision says so', async () => {
    const limits: LimitConfig[] = [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' }];
    const limiter = createLimiter({ store: new UpstashStore({ client: http.client(), prefix }), limits });
    for (let i = 0; i < 3; i++) expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    const refused = await limiter.acquire({ user: 'u' });
    expect(refused).toMatchObject({ allowed: false, reason: 'limited' });
    expect(refused.cached).toBeUndefined();

    let replayed: Awaited<ReturnType<typeof limiter.acquire>> | undefined;
    expect(await requestsDuring(async () => (replayed = await limiter.acquire({ user: 'u' })))).toBe(0);
    expect(replayed).toMatchObject({ allowed: false, reason: 'limited', cached: true });
    expect(replayed!.retryAfterMs).toBeGreaterThan(50_000);
    expect(replayed!.retryAfterMs).toBeLessThanOrEqual(refused.retryAfterMs);
    // Another caller is not affected.
    expect(await requestsDuring(async () => expect((await limiter.acquire({ user: 'v' })).allowed).toBe(true))).toBe(1);
  });

  it('asks Redis for every refusal when the deny cache is turned off', async () => {
    const limits: LimitConfig[] = [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }];
    const limiter = createLimiter({ store: new UpstashStore({ client: http.client(), prefix, denyCache: false }), limits });
    await limiter.acquire({ user: 'u' });
    await limiter.acquire({ user: 'u' });
    let refused: Awaited<ReturnType<typeof limiter.acquire>> | undefined;
    expect(await requestsDuring(async () => (refused = await limiter.acquire({ user: 'u' })))).toBe(1);
    expect(refused).toMatchObject({ allowed: false });
    expect(refused!.cached).toBeUndefined();
  });

  it('shares one budget with @tollgate/store-redis on the same Redis (edge middleware and Node API together)', async () => {
    const limits: LimitConfig[] = [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' },
      { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 3 },
    ];
    const edge = createLimiter({ store: new UpstashStore({ client: http.client(), prefix, denyCache: false }), limits });
    const node = createLimiter({ store: new RedisStore({ client: ioredis, prefix }), limits });

    const leases = [];
    for (let i = 0; i < 3; i++) {
      const decision = await (i % 2 ? node : edge).acquire({ user: 'shared' }, { cost: 0.1 });
      expect(decision.allowed).toBe(true);
      leases.push(decision.lease!);
    }
    // Three leases in flight, taken through both stores: the fourth is refused by either.
    expect(await edge.acquire({ user: 'shared' })).toMatchObject({ allowed: false, deniedBy: [{ name: 'inflight' }] });
    expect(await node.acquire({ user: 'shared' })).toMatchObject({ allowed: false, deniedBy: [{ name: 'inflight' }] });
    for (const lease of leases) await lease.release(); // each refunds its unused $0.10 reservation

    const recorded = (await edge.acquire({ user: 'shared' })).lease!;
    await recorded.record({ cost: 0.25 });
    expect(await edge.usage({ user: 'shared' })).toEqual(await node.usage({ user: 'shared' }));
    const byName = Object.fromEntries((await node.usage({ user: 'shared' })).map((state) => [state.name, state]));
    expect(byName['rpm']).toMatchObject({ used: 4 });
    expect(byName['daily-usd']).toMatchObject({ used: 0.25 });
    expect(byName['inflight']).toMatchObject({ used: 1 });

    await recorded.release();

    // Alternating callers on the two stores admit exactly the limit between them.
    let admitted = 4;
    for (let i = 0; i < 10; i++) {
      const decision = await (i % 2 ? node : edge).acquire({ user: 'shared' });
      if (decision.allowed) {
        admitted++;
        await decision.lease.release();
      } else expect(decision.deniedBy[0]!.name).toBe('rpm');
    }
    expect(admitted).toBe(10);
  });

  it('refuses a client that is not an @upstash/redis Redis, a bad prefix and a bad denyCache', () => {
    const client = http.client();
    expect(() => new UpstashStore({ client: {} as never })).toThrow(ConfigurationError);
    expect(() => new UpstashStore({ client, prefix: 'a{b}' })).toThrow(ConfigurationError);
    expect(() => new UpstashStore({ client, denyCache: 'yes' as never })).toThrow(ConfigurationError);
    expect(() => new UpstashStore({ client, denyCache: { maxEntries: 0 } })).toThrow(ConfigurationError);
  });
});
