import type { Adjustment, Charge, Counter, CounterAlgorithm, IdentityKey, Store, StoreBatch } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../src/index.js';

/**
 * The Lua engine against the reference engine, batch by batch, below the limiter: batches the
 * limiter never builds today (zero adds, several adjustments on one counter, refunds at any time,
 * releases on counters that hold no slots, the clock stepping back) must still read the same.
 */
const client = new Redis({ port: inject('redisPort'), host: '127.0.0.1' });
afterAll(() => client.quit());

const T0 = Date.UTC(2026, 0, 1);
const identity = (id: string): IdentityKey => ({ key: `tollgate:{user:${id}}`, namespace: 'tollgate:user', id });
const counter = (id: string, field: string, algorithm: CounterAlgorithm): Counter => ({ identity: identity(id), field, algorithm });
const COUNTERS: Counter[] = [
  counter('a', 'log', { type: 'log', limit: 5, windowMs: 1_000 }),
  counter('a', 'window', { type: 'window', limit: 7, windowMs: 2_000, segmentMs: 500 }),
  counter('a', 'bucket', { type: 'bucket', limit: 3, windowMs: 1_000, burst: 4 }),
  counter('a', 'calendar', { type: 'calendar', limit: 10, periods: [T0, T0 + 10_000, T0 + 20_000, T0 + 30_000, T0 + 40_000] }),
  counter('a', 'slots', { type: 'slots', limit: 2, ttlMs: 1_500 }),
  counter('b', 'log', { type: 'log', limit: 9, windowMs: 700 }),
  counter('b', 'window', { type: 'window', limit: 12, windowMs: 3_000, segmentMs: 1_000 }),
  // Long series, whose middle moves to a spill key.
  counter('c', 'log', { type: 'log', limit: 45, windowMs: 2_000 }),
  counter('c', 'window', { type: 'window', limit: 70, windowMs: 2_000, segmentMs: 50 }),
];
const LONG = COUNTERS.filter((c) => c.identity.id === 'c');
const LEASES = ['l1', 'l2', 'l3'];

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let run = 0;
/** A Redis store and the reference on one clock, with a fresh key prefix. */
function pair() {
  const clock = { now: T0 + 500 };
  const subject: Store = new RedisStore({ client, prefix: `engine-${++run}-${Date.now()}:`, clock: () => clock.now });
  const reference: Store = new MemoryStore({ clock: () => clock.now });
  const both = async (batch: StoreBatch) => [await subject.apply(batch), await reference.apply(batch)];
  return { clock, both };
}

/** Every counter's reading, charging nothing. */
const readAll: StoreBatch = { charges: COUNTERS.map((c) => ({ counter: c, amount: 0 })), adjustments: [], dryRun: true };

describe('the Lua engine against the reference engine', () => {
  it('agrees on random batches of every kind', async () => {
    for (let sequence = 0; sequence < 200; sequence++) {
      const next = random(sequence + 1);
      const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
      const { clock, both } = pair();
      const times: number[] = [clock.now];
      // Every other sequence is a burst of short steps that charges the long series each time.
      const burst = sequence % 2 === 1;
      for (let step = 0; step < (burst ? 120 : 40); step++) {
        clock.now += burst ? pick([0, 1, 2, 5, 9, 30, 60, 61, 250]) : pick([0, 0, 1, 7, 120, 333, 499, 500, 700, 1_000, 1_500]);
        times.push(clock.now);
        const others = [...COUNTERS].filter((c) => !burst || !LONG.includes(c));
        const charged = [...(burst ? LONG : []), ...others.sort(() => next() - 0.5).slice(0, Math.floor(next() * 4))];
        const charges: Charge[] = charged.map((c) =>
          c.algorithm.type === 'slots' ? { counter: c, amount: 1, leaseId: pick(LEASES) } : { counter: c, amount: Math.floor(next() * 4) },
        );
        const adjustments: Adjustment[] = Array.from({ length: Math.floor(next() * 4) }, () => {
          const c = pick(COUNTERS);
          switch (pick(['add', 'refund', 'refund', 'release', 'touch', 'reset'] as const)) {
            case 'add':
              return { type: 'add', counter: c, amount: Math.floor(next() * 4) };
            case 'refund':
              return { type: 'refund', counter: c, amount: Math.floor(next() * 4), at: pick(times) };
            case 'release':
              return { type: 'release', counter: c, leaseId: pick(LEASES) };
            case 'touch':
              return { type: 'touch', counter: c, leaseId: pick(LEASES) };
            case 'reset':
              return { type: 'reset', counter: c };
          }
        });
        const batch: StoreBatch = { charges, adjustments, dryRun: next() < 0.15 };
        const [actual, expected] = await both(batch);
        expect(actual, `sequence ${sequence}, step ${step}: ${JSON.stringify(batch)}`).toEqual(expected);
      }
      const [actual, expected] = await both(readAll);
      expect(actual, `sequence ${sequence}, final reading`).toEqual(expected);
    }
  });

  it('agrees on a long log: charges, refunds and a clock step back reach entries in the spill', async () => {
    const { clock, both } = pair();
    const [log, window] = LONG as [Counter, Counter];
    const charge = (amount: number): StoreBatch => ({ charges: LONG.map((c) => ({ counter: c, amount })), adjustments: [], dryRun: false });
    const check = async (batch: StoreBatch, what: string) => {
      const [actual, expected] = await both(batch);
      expect(actual, what).toEqual(expected);
    };
    for (let i = 0; i < 42; i++) {
      clock.now = T0 + 1_000 + i * 13;
      await check(charge(1), `charge ${i}`);
    }
    clock.now = T0 + 1_000 + 41 * 13 - 4; // a little back, but after every spilled entry
    await check(charge(1), 'a charge a few ms behind the newest');
    const refund = (at: number, amount: number): StoreBatch => ({
      charges: [],
      adjustments: [log, window].map((counter) => ({ type: 'refund', counter, amount, at: T0 + at })),
      dryRun: false,
    });
    await check(refund(1_000 + 20 * 13, 1), 'refund of a spilled entry');
    await check(refund(1_000 + 3 * 13, 1), 'refund of a front entry');
    await check(refund(1_000 + 41 * 13, 1), 'refund of all of the newest');
    clock.now = T0 + 1_000 + 30 * 13 + 5; // back into the spilled stretch
    await check(charge(2), 'a charge after the clock stepped back');
    await check(charge(9), 'a refusal: the retry time lies in the spill');
    for (const at of [2_990, 3_000, 3_100, 3_300, 3_500, 3_600, 4_000]) {
      clock.now = T0 + at;
      await check(charge(1), `charge at ${at}, as entries expire`);
    }
    await check(readAll, 'final reading');
  });

  it('agrees when the clock steps back: entries land in order, merging with an equal time', async () => {
    const { clock, both } = pair();
    const charge = (amount: number): StoreBatch => ({
      charges: COUNTERS.filter((c) => c.identity.id === 'b').map((c) => ({ counter: c, amount })),
      adjustments: [],
      dryRun: false,
    });
    for (const [at, amount] of [[1_000, 1], [1_005, 2], [1_002, 1], [1_000, 1], [1_005, 1], [998, 2], [1_400, 1], [1_003, 1]] as const) {
      clock.now = T0 + at;
      const [actual, expected] = await both(charge(amount));
      expect(actual, `at ${at}`).toEqual(expected);
    }
    // Then as each entry leaves the window: the amounts that drop out must be the ones charged.
    for (const at of [1_600, 1_698, 1_700, 1_702, 1_704, 1_706, 1_900, 2_101]) {
      clock.now = T0 + at;
      const [actual, expected] = await both(readAll);
      expect(actual, `reading at ${at}`).toEqual(expected);
    }
  });
});
