import { createLimiter, StoreError, type LimitConfig } from '@tollgate/core';
import { Redis } from 'ioredis';
import { AI_POLICY } from '@tollgate/store-test-suite';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ENGINE_SHA, RedisStore } from '../src/index.js';
import { ENGINE_LUA } from '@tollgate/redis-lua';
import { hammer } from './support/hammer-run.js';

const port = inject('redisPort');
const client = new Redis({ port, host: '127.0.0.1' });
afterAll(() => client.quit());

let run = 0;
let prefix = '';
beforeEach(() => {
  prefix = `t${++run}-${Date.now()}:`;
});

/** Calls of one command since the server started, from INFO commandstats. */
async function calls(command: string): Promise<number> {
  const info = await client.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match ? Number(match[1]) : 0;
}

const policy = [...AI_POLICY];

describe('RedisStore', () => {
  it('its script SHA is what SCRIPT LOAD reports', async () => {
    expect(await client.script('LOAD', ENGINE_LUA)).toBe(ENGINE_SHA);
  });

  it('makes one EVALSHA per decision and per release, whatever the number of limits and scopes', async () => {
    const limiter = createLimiter({ store: new RedisStore({ client, prefix }), limits: policy });
    await limiter.acquire({ user: 'warm' }, { tokens: 10, cost: 0.01 }); // the script is loaded now
    const before = { evalsha: await calls('evalsha'), eval: await calls('eval') };
    const decision = await limiter.acquire({ user: 'u', ip: '203.0.113.9' }, { tokens: 1_000, cost: 0.02 });
    expect(decision.limits).toHaveLength(7);
    expect(await calls('evalsha')).toBe(before.evalsha + 1);
    await decision.lease!.release();
    expect(await calls('evalsha')).toBe(before.evalsha + 2);
    expect(await calls('eval')).toBe(before.eval);
  });

  it('falls back to EVAL after SCRIPT FLUSH, then EVALSHA works again', async () => {
    const limiter = createLimiter({ store: new RedisStore({ client, prefix }), limits: policy });
    await client.script('FLUSH');
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect(await client.script('EXISTS', ENGINE_SHA)).toEqual([1]);
    expect((await limiter.acquire({ user: 'u' })).limits[0]!.used).toBe(2);
  });

  it('gives every key a TTL no shorter than its longest-lived counter', async () => {
    const limiter = createLimiter({ store: new RedisStore({ client, prefix }), limits: policy });
    const { lease } = await limiter.acquire({ user: 'ttl', ip: '198.51.100.7' }, { tokens: 100, cost: 0.01 });
    await lease!.release();
    const keys = await client.keys(`${prefix}*`);
    expect(keys.sort()).toEqual([`${prefix}tollgate:{ip:198.51.100.7}`, `${prefix}tollgate:{user:ttl}`]);
    for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(0);
    // The user's hash holds hour windows: its TTL covers at least the hour.
    expect(await client.pttl(`${prefix}tollgate:{user:ttl}`)).toBeGreaterThan(3_600_000);
  });

  it('two app servers whose clocks differ by 30 s enforce one window, on Redis time', async () => {
    const limits: LimitConfig[] = [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' },
      { name: 'daily', scope: 'user', resource: 'requests', limit: 7, reset: { every: 'day' } },
    ];
    const store = new RedisStore({ client, prefix });
    const onTime = createLimiter({ store, limits, clock: () => Date.now() });
    const ahead = createLimiter({ store, limits, clock: () => Date.now() + 30_000 });
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await (i % 2 ? ahead : onTime).acquire({ user: 'skew' }));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    // Both see the same window: the refusal waits for the first request to leave it, on Redis's clock.
    const refused = decisions[5]!;
    expect(refused.retryAfterMs).toBeGreaterThan(55_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect((await ahead.usage({ user: 'skew' }))[1]!.used).toBe(5);
  });

  it('no over-admission: 4 processes x 50 concurrent callers on a limit of 100 admit exactly 100', async () => {
    expect(await hammer(4, 50, { REDIS_PORT: String(port), PREFIX: prefix })).toBe(100);
  });

  it('a Redis error is a StoreError, and the failure policy decides', async () => {
    const broken = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    await broken.connect();
    await broken.quit();
    const limiter = createLimiter({ store: new RedisStore({ client: broken, prefix }), limits: policy, onStoreError: 'deny' });
    const decision = await limiter.acquire({ user: 'u' });
    expect(decision).toMatchObject({ allowed: false, reason: 'store-error' });
    expect(decision.error).toBeInstanceOf(StoreError);
    expect(decision.error!.message).toMatch(/^\[tollgate\] \[store-redis\]/);
  });

  it('refuses a prefix that could break hash tags', () => {
    expect(() => new RedisStore({ client, prefix: 'a{b}' })).toThrow(/prefix/);
  });
});
