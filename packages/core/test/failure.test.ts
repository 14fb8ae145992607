import { describe, expect, it } from 'vitest';
import { createLimiter, StoreError, type LimitConfig, type Store, type StoreBatch, type StoreResult } from '../src/index.js';
import { EngineStore, manualClock } from './support/engine-store.js';

const rpm: LimitConfig = { name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' };
const inflight: LimitConfig = { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 5 };

type Behaviour = 'ok' | 'fail' | 'slow' | 'slow-fail';

/**
 * A real engine behind a switch: healthy, failing, or answering only after a delay. `next` lists
 * behaviours for the coming calls, one each, before `mode` applies again.
 */
class FlakyStore implements Store {
  readonly capabilities;
  mode: Behaviour = 'ok';
  next: Behaviour[] = [];
  delayMs = 0;
  constructor(readonly inner: EngineStore) {
    this.capabilities = inner.capabilities;
  }
  async apply(batch: StoreBatch): Promise<StoreResult> {
    const behaviour = this.next.shift() ?? this.mode;
    if (behaviour === 'slow' || behaviour === 'slow-fail') await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (behaviour === 'fail' || behaviour === 'slow-fail') throw new Error('ECONNREFUSED');
    return this.inner.apply(batch);
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

function setup(onStoreError: 'deny' | 'allow' | 'local') {
  const clock = manualClock();
  const store = new FlakyStore(new EngineStore(clock));
  const localStore = new EngineStore(clock);
  const limiter = createLimiter({ store, limits: [rpm, inflight], clock, timeoutMs: 50, onStoreError, localStore });
  return { store, localStore, limiter };
}

describe('an asynchronous store', () => {
  it('concurrent records of one lease charge an overrun exactly once', async () => {
    const clock = manualClock();
    const store = new FlakyStore(new EngineStore(clock));
    store.mode = 'slow';
    store.delayMs = 5;
    const tpm: LimitConfig = { name: 'tpm', scope: 'user', resource: 'tokens', limit: 100_000, window: '1m' };
    const limiter = createLimiter({ store, clock, limits: [tpm] });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 1000 });
    await Promise.all([1, 2, 3].map(() => lease!.record({ inputTokens: 600 })));
    expect((await limiter.usage({ user: 'u' }))[0]!.used).toBe(1800);
    await lease!.release();
    expect((await limiter.usage({ user: 'u' }))[0]!.used).toBe(1800);
  });

  it('an overrun whose record failed is charged by the next record', async () => {
    const clock = manualClock();
    const store = new FlakyStore(new EngineStore(clock));
    const limiter = createLimiter({ store, clock, limits: [{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 100_000, window: '1m' }] });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 100 });
    store.mode = 'fail';
    await expect(lease!.record({ inputTokens: 300 })).rejects.toBeInstanceOf(StoreError);
    store.mode = 'ok';
    await lease!.record({ inputTokens: 50 });
    expect((await limiter.usage({ user: 'u' }))[0]!.used).toBe(350);
  });
});

describe('settling against a failing store', () => {
  const tpm: LimitConfig = { name: 'tpm', scope: 'user', resource: 'tokens', limit: 100_000, window: '1m' };
  const used = async (limiter: ReturnType<typeof createLimiter>) => (await limiter.usage({ user: 'u' }))[0]!.used;

  it('a record that times out but lands later is not charged twice', async () => {
    const clock = manualClock();
    const store = new FlakyStore(new EngineStore(clock));
    store.delayMs = 60;
    const limiter = createLimiter({ store, clock, limits: [tpm], timeoutMs: 20 });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 100 });
    store.next = ['slow'];
    await expect(lease!.record({ inputTokens: 1_000 })).rejects.toThrow(/did not answer/);
    await settle(); // the record lands, and is taken back
    await lease!.release(); // charges the 900 the lease still owes, once
    expect(await used(limiter)).toBe(1_000);
  });

  it('a record failing while the release waits for it is charged by the release', async () => {
    const clock = manualClock();
    const store = new FlakyStore(new EngineStore(clock));
    store.delayMs = 20;
    const limiter = createLimiter({ store, clock, limits: [tpm] });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 100 });
    store.next = ['slow-fail'];
    const recorded = lease!.record({ inputTokens: 1_000 });
    const released = lease!.release();
    await expect(recorded).rejects.toBeInstanceOf(StoreError);
    await released;
    expect(await used(limiter)).toBe(1_000);
  });

  it('a record the store refused leaves the usage unknown: the release keeps the reservation', async () => {
    const clock = manualClock();
    const store = new FlakyStore(new EngineStore(clock));
    // With a slot to touch, a record within the reservation goes to the store too.
    const limiter = createLimiter({ store, clock, limits: [tpm, inflight] });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 5_000 });
    store.next = ['fail'];
    await expect(lease!.record({ inputTokens: 100 })).rejects.toBeInstanceOf(StoreError);
    await lease!.release();
    expect(await used(limiter)).toBe(5_000);
  });

  it('a release the store refused can be retried', async () => {
    const clock = manualClock();
    const store = new FlakyStore(new EngineStore(clock));
    const limiter = createLimiter({ store, clock, limits: [tpm] });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 5_000 });
    store.next = ['fail'];
    await expect(lease!.release()).rejects.toBeInstanceOf(StoreError);
    await lease!.release();
    expect(await used(limiter)).toBe(0);
  });

  it('a step racing a release is refunded by it', async () => {
    const clock = manualClock();
    const limiter = createLimiter({ store: new EngineStore(clock), clock, limits: [tpm] });
    const { lease } = await limiter.acquire({ user: 'u' });
    const step = lease!.step({ tokens: 5_000 });
    await lease!.release();
    expect((await step).allowed).toBe(true);
    expect(await used(limiter)).toBe(0);
  });

  it('a store that throws while a late decision is taken back does not crash the process', async () => {
    const clock = manualClock();
    const inner = new EngineStore(clock);
    let calls = 0;
    const store: Store = {
      capabilities: inner.capabilities,
      apply(batch) {
        if (++calls === 1) return new Promise((resolve) => setTimeout(() => resolve(inner.apply(batch)), 60));
        throw new Error('connection closed');
      },
    };
    const limiter = createLimiter({ store, clock, limits: [rpm], timeoutMs: 20 });
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false, reason: 'timeout' });
    await settle(); // vitest fails the run on an unhandled rejection
  });
});

describe('onStoreError', () => {
  it("'deny' refuses with the reason and the error", async () => {
    const { store, limiter } = setup('deny');
    store.mode = 'fail';
    const decision = await limiter.acquire({ user: 'u' });
    expect(decision).toMatchObject({ allowed: false, reason: 'store-error', fallback: 'deny', retryAfterMs: 1000 });
    expect(decision.error).toBeInstanceOf(StoreError);
    expect(decision.error!.message).toMatch(/ECONNREFUSED/);
  });

  it("'allow' admits without counting; the lease charges actual usage once the store is back", async () => {
    const { store, limiter } = setup('allow');
    store.mode = 'fail';
    const decision = await limiter.acquire({ user: 'u' });
    expect(decision).toMatchObject({ allowed: true, reason: 'store-error', fallback: 'allow', limits: [] });
    store.mode = 'ok';
    await decision.lease!.release();
    expect((await limiter.usage({ user: 'u' }))[0]).toMatchObject({ name: 'rpm', used: 0 });
  });

  it("'local' enforces the same policy in process until the store answers again", async () => {
    const { store, localStore, limiter } = setup('local');
    store.mode = 'fail';
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await limiter.acquire({ user: 'u' }));
    expect(results.map((d) => [d.allowed, d.fallback])).toEqual([
      [true, 'local'],
      [true, 'local'],
      [false, 'local'],
    ]);
    // Leases decided locally settle locally.
    await results[0]!.lease!.release();
    expect(localStore.calls).toBe(4);
    store.mode = 'ok';
    const back = await limiter.acquire({ user: 'u' });
    expect(back).toMatchObject({ allowed: true, reason: 'ok' });
    expect(back.fallback).toBeUndefined();
  });

  it('a hung store is a timeout within timeoutMs, not a hang', async () => {
    const { store, limiter } = setup('deny');
    store.mode = 'slow';
    store.delayMs = 10_000;
    // The store would answer after 10 s; the decision comes back as a timeout instead.
    const decision = await limiter.acquire({ user: 'u' });
    expect(decision).toMatchObject({ allowed: false, reason: 'timeout' });
  });

  it('a decision that answers after the timeout is rolled back, so a refused request is never charged', async () => {
    const { store, limiter } = setup('deny');
    store.mode = 'slow';
    store.delayMs = 120;
    const decision = await limiter.acquire({ user: 'u' });
    expect(decision.reason).toBe('timeout');
    await new Promise((resolve) => setTimeout(resolve, 300));
    store.mode = 'ok';
    const usage = await limiter.usage({ user: 'u' });
    expect(usage.map((l) => [l.name, l.used])).toEqual([
      ['rpm', 0],
      ['inflight', 0],
    ]);
  });

  it('settling a lease throws StoreError when the store fails; nothing is lost for a retry', async () => {
    const { store, limiter } = setup('deny');
    const { lease } = await limiter.acquire({ user: 'u' });
    store.mode = 'fail';
    await expect(lease!.release()).rejects.toBeInstanceOf(StoreError);
    await expect(limiter.usage({ user: 'u' })).rejects.toBeInstanceOf(StoreError);
  });
});
