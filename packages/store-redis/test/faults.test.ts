import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLimiter, type Limiter, type LimitConfig, type StoreErrorPolicy } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import { startServer, stopServer } from '@tollgate/dev-redis';

/**
 * Faults against a redis-server of the test's own: stopped in the middle of a load run, then
 * started again on the same port; and hung with DEBUG SLEEP.
 */
const dir = mkdtempSync(join(tmpdir(), 'tollgate-faults-'));
let port: number;
let client: Redis;
beforeAll(async () => {
  port = await startServer(dir);
  client = new Redis({ port, host: '127.0.0.1' });
  // The server goes away on purpose; an app would log these connection errors.
  client.on('error', () => {});
});
afterAll(async () => {
  client.disconnect();
  await stopServer(port);
  rmSync(dir, { recursive: true, force: true });
});

const limits: LimitConfig[] = [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' }];

/**
 * `timeoutMs` bounds each decision while the server is away; it must also be far above any healthy
 * round trip on a CI machine running every package at once, or a decision before the outage times out.
 */
function limiterWith(onStoreError: StoreErrorPolicy, timeoutMs = 500): Limiter {
  return createLimiter({
    store: new RedisStore({ client, prefix: `${onStoreError}-${Date.now()}:` }),
    limits,
    timeoutMs,
    onStoreError,
    ...(onStoreError === 'local' && { localStore: new MemoryStore() }),
  });
}

/** Decisions of a small concurrent load: `rounds` rounds of `width` callers (bounded, loopback only). */
async function load(limiter: Limiter, rounds: number, width: number, during?: (round: number) => Promise<void>) {
  const outcomes = [];
  for (let round = 0; round < rounds; round++) {
    await during?.(round);
    outcomes.push(...(await Promise.all(Array.from({ length: width }, (_, i) => limiter.acquire({ user: `load-${i % 4}` })))));
  }
  return outcomes;
}

describe('faults', () => {
  it.each(['deny', 'allow', 'local'] as const)(
    "server stopped mid-load ('%s'): every decision comes back with that outcome, and limits hold again once it returns",
    async (policy) => {
      const limiter = limiterWith(policy);
      let outcomes;
      try {
        outcomes = await load(limiter, 12, 8, async (round) => {
          if (round === 4) await stopServer(port);
        });
      } finally {
        port = await startServer(dir, [], port);
      }
      const before = outcomes.slice(0, 4 * 8);
      const during = outcomes.slice(4 * 8);
      expect(before.every((d) => d.fallback === undefined && (d.reason === 'ok' || d.reason === 'limited'))).toBe(true);
      for (const decision of during) {
        expect(decision.fallback).toBe(policy);
        expect(decision.error?.message).toMatch(/\[tollgate\]/);
        if (policy === 'deny') expect(decision).toMatchObject({ allowed: false, reason: expect.stringMatching(/^(timeout|store-error)$/) });
        if (policy === 'allow') expect(decision).toMatchObject({ allowed: true, reason: expect.stringMatching(/^(timeout|store-error)$/) });
      }
      if (policy === 'local') {
        // The in-process fallback enforces the same policy: 3 per user per minute (4 users per round).
        expect(during.filter((d) => d.allowed).length).toBe(4 * 3);
        expect(during.filter((d) => !d.allowed).every((d) => d.reason === 'limited')).toBe(true);
      }

      // The app keeps its client: ioredis reconnects, and decisions are enforced on Redis again.
      let back;
      for (let attempt = 0; attempt < 100; attempt++) {
        back = await limiter.acquire({ user: `after-${policy}` });
        if (back.fallback === undefined) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(back).toMatchObject({ allowed: true, reason: 'ok' });
      expect(back!.fallback).toBeUndefined();
      await limiter.acquire({ user: `after-${policy}` });
      await limiter.acquire({ user: `after-${policy}` });
      expect(await limiter.acquire({ user: `after-${policy}` })).toMatchObject({ allowed: false, reason: 'limited' });
    },
  );

  it('a hung server (DEBUG SLEEP) is a timeout, not a hang, and the late answer charges nothing', async () => {
    const limiter = limiterWith('deny', 150); // well inside the server's 1 s sleep
    const sleeper = new Redis({ port, host: '127.0.0.1' });
    sleeper.on('error', () => {});
    const hang = sleeper.call('DEBUG', 'SLEEP', '1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const decision = await limiter.acquire({ user: 'hung' });
    expect(decision).toMatchObject({ allowed: false, reason: 'timeout', fallback: 'deny' });
    await hang;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the queued decision lands, then is taken back
    expect((await limiter.usage({ user: 'hung' }))[0]!.used).toBe(0);
    sleeper.disconnect();
  });
});
