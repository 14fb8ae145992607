import { expect, it } from 'vitest';
import { staticPrices } from '@tollgate/core';
import type { Harness } from './harness.js';
import { usedOf } from './usage.js';

const prices = staticPrices({ 'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 } });

/** Two-phase accounting: reserve, record, release, expiry, tool calls. */
export function leaseCases(h: Harness): void {
  it('reserves on acquire, charges overrun on record, refunds on release', async () => {
    const limiter = h.limiter(
      [
        { name: 'tpm', scope: 'user', resource: 'tokens', limit: 100_000, window: '1m' },
        { name: 'usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day' } },
      ],
      { prices },
    );
    const who = { user: 'u' };
    const { lease } = await limiter.acquire(who, { tokens: 3_000, model: 'gpt-4o' });
    expect((await usedOf(limiter, who))['tpm']).toBe(3_000);
    expect((await usedOf(limiter, who))['usd']).toBe(0.03);
    h.clock.advance(2_000);
    await lease!.record({ inputTokens: 2_000, cachedInputTokens: 1_000, outputTokens: 500 });
    await lease!.record({ inputTokens: 1_000, outputTokens: 500 }); // 1,000 over the reservation
    expect((await usedOf(limiter, who))['tpm']).toBe(4_000);
    h.clock.advance(2_000);
    await lease!.release();
    expect((await usedOf(limiter, who))['tpm']).toBe(4_000);
    // 2,000 input (1,000 cached) + 500 out, then 1,000 in + 500 out: $0.01625.
    expect((await usedOf(limiter, who))['usd']).toBe(0.01625);
  });

  it('refunds land where the reservation was charged, even as the window slides', async () => {
    const limiter = h.limiter([{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '10s' }]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 6_000 });
    h.clock.advance(5_000);
    await limiter.acquire({ user: 'u' }, { tokens: 4_000 });
    await lease!.release();
    expect((await usedOf(limiter, { user: 'u' }))['tpm']).toBe(4_000);
    h.clock.advance(5_000); // the refunded reservation would have expired now anyway
    expect((await usedOf(limiter, { user: 'u' }))['tpm']).toBe(4_000);
  });

  it('a concurrency slot is held until release, and expires after the lease TTL', async () => {
    const limiter = h.limiter([{ name: 'inflight', scope: 'user', resource: 'concurrency', limit: 2 }], { lease: { ttl: '30s' } });
    const first = await limiter.acquire({ user: 'u' });
    const second = await limiter.acquire({ user: 'u' });
    // A slot frees whenever a lease ends: the refusal asks for a short retry, not the 30 s TTL.
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false, retryAfterMs: 1_000, deniedBy: [{ name: 'inflight', retryAfterMs: 1_000 }] });
    await first.lease!.release();
    const third = await limiter.acquire({ user: 'u' });
    expect(third.allowed).toBe(true);
    h.clock.advance(20_000);
    await third.lease!.record({ inputTokens: 1 }); // activity extends the slot
    h.clock.advance(10_000);
    // `second` was never released: its slot is free; `third` is still held.
    expect((await usedOf(limiter, { user: 'u' }))['inflight']).toBe(1);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
    expect(second.lease!.released).toBe(false);
  });

  it('tool calls are checked and charged per tool; refusals charge nothing', async () => {
    const limiter = h.limiter([
      { name: 'search', scope: 'user', resource: 'toolCalls', tool: 'web_search', limit: 2, window: '1m' },
      { name: 'all-tools', scope: 'user', resource: 'toolCalls', limit: 5, window: '1m' },
    ]);
    const { lease } = await limiter.acquire({ user: 'u' });
    const calls = await Promise.all(Array.from({ length: 4 }, () => lease!.tool('web_search')));
    expect(calls.filter((c) => c.allowed)).toHaveLength(2);
    expect((await usedOf(limiter, { user: 'u' }))['all-tools']).toBe(2);
  });
}
