import { expect, it } from 'vitest';
import { staticPrices } from '@tollgate/core';
import type { Harness } from './harness.js';
import { usedOf } from './usage.js';

/** Windows, algorithms, all-or-nothing decisions and key encoding. */
export function windowCases(h: Harness): void {
  it('sliding log: exact at the window edge, with the exact retry time', async () => {
    const limiter = h.limiter([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' }]);
    for (let i = 0; i < 3; i++) {
      expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
      h.clock.advance(10_000);
    }
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false, retryAfterMs: 30_000 });
    h.clock.advance(29_999);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
    h.clock.advance(1);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
  });

  it('sliding window: never more than the limit in the window; refused at most one segment longer', async () => {
    const limiter = h.limiter([{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 1000, window: '10s', precision: 10 }]);
    expect((await limiter.acquire({ user: 'u' }, { requests: 0, tokens: 600 })).allowed).toBe(true);
    h.clock.advance(5_000);
    expect((await limiter.acquire({ user: 'u' }, { requests: 0, tokens: 400 })).allowed).toBe(true);
    expect(await limiter.acquire({ user: 'u' }, { tokens: 1 })).toMatchObject({ allowed: false, retryAfterMs: 6_000 });
    h.clock.advance(5_999);
    expect((await limiter.acquire({ user: 'u' }, { tokens: 600 })).allowed).toBe(false);
    h.clock.advance(1);
    expect((await limiter.acquire({ user: 'u' }, { tokens: 600 })).allowed).toBe(true);
  });

  it('token bucket: a burst, then the refill rate', async () => {
    const limiter = h.limiter([
      { name: 'burst', scope: 'user', resource: 'requests', limit: 10, window: '10s', algorithm: 'token-bucket', burst: 3 },
    ]);
    for (let i = 0; i < 3; i++) expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false, retryAfterMs: 1_000, limits: [{ limit: 3, remaining: 0 }] });
    h.clock.advance(1_000);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
  });

  it('calendar: a daily budget resets at local midnight', async () => {
    const limiter = h.limiter([
      { name: 'daily', scope: 'user', resource: 'requests', limit: 2, reset: { every: 'day', timeZone: 'Asia/Tokyo' } },
    ]);
    // The suite's clock starts at 12:00 UTC, 21:00 in Tokyo: midnight there is 3 hours away.
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false, retryAfterMs: 3 * 3_600_000 });
    h.clock.advance(3 * 3_600_000);
    expect((await limiter.acquire({ user: 'u' })).limits[0]).toMatchObject({ used: 1, remaining: 1 });
  });

  it('later hits never extend a window', async () => {
    const limiter = h.limiter([
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '10s' },
      { name: 'daily', scope: 'user', resource: 'tokens', limit: 100, reset: { every: 'day' } },
    ]);
    const first = await limiter.acquire({ user: 'u' }, { tokens: 10 });
    h.clock.advance(5_000);
    await limiter.acquire({ user: 'u' }, { tokens: 10 });
    for (let i = 0; i < 4; i++) {
      h.clock.advance(1_000);
      const refused = await limiter.acquire({ user: 'u' }, { tokens: 10 });
      expect(refused.allowed).toBe(false);
      expect(refused.limits[1]!.resetAt).toBe(first.limits[1]!.resetAt);
    }
    h.clock.advance(1_000); // 10 s after the first hit, exactly
    expect((await limiter.acquire({ user: 'u' }, { tokens: 10 })).allowed).toBe(true);
  });

  it('a parallel burst admits exactly the limit', async () => {
    const limiter = h.limiter([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 100, window: '1m' }]);
    const decisions = await Promise.all(Array.from({ length: 250 }, () => limiter.acquire({ user: 'burst' })));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
    expect((await usedOf(limiter, { user: 'burst' }))['rpm']).toBe(100);
  });

  it('a denial charges nothing, on any limit or scope', async () => {
    const limiter = h.limiter(
      [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' },
        { name: 'tpm', scope: 'user', resource: 'tokens', limit: 5_000, window: '1m' },
        { name: 'usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } },
        { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 2, window: '1m' },
        { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 5 },
      ],
      { prices: staticPrices({ m: { input: 1, output: 2 } }) },
    );
    const who = { user: 'u', ip: '203.0.113.9' };
    await limiter.acquire(who, { tokens: 3_000, model: 'm' });
    const before = await limiter.usage(who);
    // Asks 3,000 tokens with 2,000 left: refused, and no limit moves.
    expect(await limiter.acquire(who, { tokens: 3_000, model: 'm' })).toMatchObject({ allowed: false, deniedBy: [{ name: 'tpm' }] });
    await limiter.acquire({ ip: who.ip });
    // The ip limit is now full: a request fitting every user limit is refused, and charges none of them.
    expect(await limiter.acquire(who, { tokens: 10, model: 'm' })).toMatchObject({ allowed: false, deniedBy: [{ name: 'ip-rpm' }] });
    const after = await limiter.usage(who);
    expect(after.filter((l) => l.scope === 'user')).toEqual(before.filter((l) => l.scope === 'user'));
  });

  it('hostile identity values never collide', async () => {
    const limiter = h.limiter([
      { name: 'user-rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' },
      { name: 'org-rpm', scope: 'org', resource: 'requests', limit: 1, window: '1m' },
    ], { scopes: ['org'] });
    const ids = ['a:b', 'a', 'b', 'a:b:c', '{a}', '}{', '{', 'x\ny', 'x\r\ny', ' a', 'a ', '%7B', '用户', '🦜', 'x'.repeat(10_240), `${'x'.repeat(10_240)}!`];
    for (const id of ids) expect((await limiter.acquire({ user: id })).allowed, JSON.stringify(id)).toBe(true);
    for (const id of ids) expect((await limiter.acquire({ org: id })).allowed, JSON.stringify(id)).toBe(true);
    for (const id of ids) expect((await limiter.acquire({ user: id })).allowed).toBe(false);
  });

  it('usage reads every limit and reset clears them', async () => {
    const limiter = h.limiter([
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' },
      { name: 'tools', scope: 'user', resource: 'toolCalls', limit: 5, window: '1m' },
    ]);
    const { lease } = await limiter.acquire({ user: 'u' });
    await lease!.tool('search');
    expect((await limiter.usage({ user: 'u' })).map((l) => [l.name, l.used, l.remaining])).toEqual([
      ['rpm', 1, 4],
      ['tools', 1, 4],
    ]);
    await limiter.reset({ user: 'u' }, 'tools');
    expect((await usedOf(limiter, { user: 'u' }))['tools']).toBe(0);
    await limiter.reset({ user: 'u' });
    expect((await usedOf(limiter, { user: 'u' }))['rpm']).toBe(0);
  });
}
