import { createLimiter, type LimitConfig } from '@tollgate/core';
import { manualClock } from '@tollgate/store-test-suite';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/index.js';

const policy: LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1e12, window: '1m' },
  { name: 'daily', scope: 'user', resource: 'cost', limit: 1e6, reset: { every: 'day' } },
  { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 4 },
];

/** Numbers held in the store's state for all identities: the size that matters for memory. */
function heldNumbers(store: MemoryStore): number {
  const entries = (store as unknown as { entries: Array<{ fields: unknown[] }> }).entries;
  return JSON.stringify(entries.map((entry) => entry.fields)).split(',').length;
}

describe('MemoryStore', () => {
  it('holds the same state for an identity after 1,000 requests as after 100,000', async () => {
    const clock = manualClock();
    const store = new MemoryStore({ clock });
    const limiter = createLimiter({ store, clock, limits: policy });
    const hammer = async (requests: number) => {
      for (let i = 0; i < requests; i++) {
        const decision = await limiter.acquire({ user: 'busy' }, { tokens: 100, cost: 0.001 });
        await decision.lease?.release();
        clock.advance(97);
      }
    };
    await hammer(1_000);
    const after1k = heldNumbers(store);
    await hammer(99_000);
    expect(heldNumbers(store)).toBeLessThanOrEqual(after1k);
  });

  it('forgets identities whose counters have all expired, without timers', async () => {
    const clock = manualClock();
    const store = new MemoryStore({ clock });
    const limiter = createLimiter({ store, clock, limits: policy.slice(0, 2) });
    for (let i = 0; i < 5_000; i++) await limiter.acquire({ user: `visitor-${i}` }, { tokens: 1 });
    expect(store.size).toBe(5_000);
    clock.advance(66_000); // the window plus one segment of the tpm counter
    // Each decision sweeps a few identities; a trickle of traffic clears the rest.
    for (let i = 0; i < 5_100; i++) await limiter.acquire({ user: 'regular' });
    expect(store.size).toBe(1);
  });

  it('forgets an identity at once when a release empties every counter it had', async () => {
    const clock = manualClock();
    const store = new MemoryStore({ clock });
    const limiter = createLimiter({ store, clock, limits: [policy[1]!] });
    const decision = await limiter.acquire({ user: 'once' }, { tokens: 100 });
    expect(store.size).toBe(1);
    await decision.lease!.release();
    expect(store.size).toBe(0);
  });

  it('keeps expired state within the size of the live state under a flood of new identities', async () => {
    const clock = manualClock();
    const store = new MemoryStore({ clock });
    const limiter = createLimiter({
      store,
      clock,
      limits: [
        { name: 'user-rps', scope: 'user', resource: 'requests', limit: 5, window: '1s' },
        { name: 'ip-rps', scope: 'ip', resource: 'requests', limit: 5, window: '1s' },
      ],
    });
    let largest = 0;
    for (let i = 0; i < 20_000; i++) {
      // Every request is a new user from a new address: two new identities per decision.
      await limiter.acquire({ user: `u${i}`, ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` });
      clock.advance(1);
      largest = Math.max(largest, store.size);
    }
    // About 2,000 identities are live at any time (1 s of traffic, two per ms).
    expect(largest).toBeLessThanOrEqual(3 * 2_000);
  });

  it('validates its options', () => {
    expect(() => new MemoryStore({ sweepPerDecision: 0 })).toThrow(/sweepPerDecision/);
  });
});
