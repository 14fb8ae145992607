import { describe, expect, it } from 'vitest';
import { ConfigurationError, createLimiter, DenyCache, type LimitConfig, type Store, type StoreBatch, type StoreResult } from '../src/index.js';
import { EngineStore, manualClock } from './support/engine-store.js';

const rpm: LimitConfig = { name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' };
const tpm: LimitConfig = { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1_000, window: '1m' };
const inflight: LimitConfig = { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 };

/** A remote-like store: asks the deny cache first and teaches it every answer, as UpstashStore does. */
class CachingStore implements Store {
  readonly capabilities;
  constructor(
    readonly inner: EngineStore,
    readonly cache: DenyCache,
  ) {
    this.capabilities = inner.capabilities;
  }
  apply(batch: StoreBatch): StoreResult {
    const cached = this.cache.lookup(batch);
    if (cached) return cached;
    const result = this.inner.apply(batch);
    this.cache.learn(batch, result);
    return result;
  }
}

function setup(limits: LimitConfig[], maxEntries?: number) {
  const clock = manualClock();
  const inner = new EngineStore(clock);
  const cache = new DenyCache({ maxEntries }, clock);
  const limiter = createLimiter({ store: new CachingStore(inner, cache), limits, clock });
  return { clock, inner, cache, limiter };
}

describe('DenyCache', () => {
  it('replays a refusal for the same demand without asking the store, counting its wait down, until the store would admit', async () => {
    const { clock, inner, limiter } = setup([rpm]);
    await limiter.acquire({ user: 'u' });
    clock.advance(10_000);
    await limiter.acquire({ user: 'u' });
    const refused = await limiter.acquire({ user: 'u' });
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 50_000 });
    expect(refused.cached).toBeUndefined();
    const calls = inner.calls;

    clock.advance(20_000);
    const replayed = await limiter.acquire({ user: 'u' });
    expect(replayed).toMatchObject({ allowed: false, reason: 'limited', cached: true, retryAfterMs: 30_000 });
    expect(replayed.deniedBy.map((state) => state.name)).toEqual(['rpm']);
    expect(await limiter.check({ user: 'u' })).toMatchObject({ allowed: false, cached: true });
    expect(inner.calls).toBe(calls);

    clock.advance(30_000); // the first request leaves the window: the store admits again
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: true });
    expect(inner.calls).toBe(calls + 1);
  });

  it('asks the store for a different demand, another caller, or a refusal that cannot be timed', async () => {
    const { inner, limiter } = setup([tpm]);
    await limiter.acquire({ user: 'u' }, { tokens: 900 });
    expect(await limiter.acquire({ user: 'u' }, { tokens: 500 })).toMatchObject({ allowed: false });
    const calls = inner.calls;
    expect((await limiter.acquire({ user: 'u' }, { tokens: 500 })).cached).toBe(true);
    expect(inner.calls).toBe(calls);

    expect(await limiter.acquire({ user: 'u' }, { tokens: 50 })).toMatchObject({ allowed: true });
    expect(await limiter.acquire({ user: 'other' }, { tokens: 500 })).toMatchObject({ allowed: true });
    expect(inner.calls).toBe(calls + 2);

    // More than the limit can ever hold: the store's answer is "never", which is not remembered.
    expect(await limiter.acquire({ user: 'u' }, { tokens: 5_000 })).toMatchObject({ allowed: false, retryAfterMs: Infinity });
    expect((await limiter.acquire({ user: 'u' }, { tokens: 5_000 })).cached).toBeUndefined();
  });

  it('never remembers a concurrency refusal: a release elsewhere frees the slot at any moment', async () => {
    const { inner, limiter } = setup([inflight]);
    const held = await limiter.acquire({ user: 'u' });
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false });
    const calls = inner.calls;
    expect((await limiter.acquire({ user: 'u' })).cached).toBeUndefined();
    expect(inner.calls).toBe(calls + 1);
    await held.lease!.release();
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: true });
  });

  it('forgets a counter as soon as this process gives budget back to it', async () => {
    const { limiter } = setup([tpm]);
    const first = await limiter.acquire({ user: 'u' }, { tokens: 900 });
    expect(await limiter.acquire({ user: 'u' }, { tokens: 500 })).toMatchObject({ allowed: false });
    await first.lease!.record({ inputTokens: 100 });
    await first.lease!.release(); // refunds 800 reserved but unused tokens
    expect(await limiter.acquire({ user: 'u' }, { tokens: 500 })).toMatchObject({ allowed: true });
  });

  it('stays within maxEntries under a flood of refused callers, forgetting the oldest first', async () => {
    const { cache, limiter } = setup([{ ...rpm, limit: 1 }], 10);
    for (let i = 0; i < 100; i++) {
      await limiter.acquire({ user: `u${i}` });
      await limiter.acquire({ user: `u${i}` });
      expect(cache.size).toBeLessThanOrEqual(10);
    }
    expect((await limiter.acquire({ user: 'u99' })).cached).toBe(true);
    expect((await limiter.acquire({ user: 'u0' })).cached).toBeUndefined();
  });

  it('refuses a malformed bound', () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN]) {
      expect(() => new DenyCache({ maxEntries })).toThrow(ConfigurationError);
    }
  });
});
