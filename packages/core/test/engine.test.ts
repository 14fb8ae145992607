import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyBatch, type CounterAlgorithm, type CounterTable, type StoreResult } from '../src/index.js';
import { bucketModel } from '../src/store/engine/bucket.js';
import { calendarModel } from '../src/store/engine/calendar.js';
import { logModel } from '../src/store/engine/log.js';
import { windowModel } from '../src/store/engine/window.js';

/** One counter in a Map, driven directly through the engine. */
function counterAt(algorithm: CounterAlgorithm) {
  let states = new Map<string, unknown>();
  const table = (map: Map<string, unknown>): CounterTable => ({
    get: ({ field }) => map.get(field),
    set: ({ field }, state) => (state === undefined ? map.delete(field) : map.set(field, state)),
  });
  const counter = { identity: { key: 'k', namespace: 'n', id: 'i' }, field: 'f', algorithm };
  return {
    charge(amount: number, now: number, dryRun = false): StoreResult {
      return applyBatch(table(states), { charges: [{ counter, amount, leaseId: 'l' }], dryRun, adjustments: [] }, now);
    },
    /** A dry run on a copy, so probing the future does not prune the present. */
    probe(amount: number, now: number): StoreResult {
      return applyBatch(table(structuredClone(states)), { charges: [{ counter, amount }], dryRun: true, adjustments: [] }, now);
    },
    refund(amount: number, at: number, now: number) {
      applyBatch(table(states), { charges: [], dryRun: false, adjustments: [{ type: 'refund', counter, amount, at }] }, now);
    },
    get state() {
      return states.get('f');
    },
    reset() {
      states = new Map();
    },
  };
}

describe('sliding log', () => {
  it('is exact at the window edge', () => {
    const log = counterAt({ type: 'log', limit: 3, windowMs: 1000 });
    expect(log.charge(1, 0).allowed).toBe(true);
    expect(log.charge(1, 0).allowed).toBe(true);
    expect(log.charge(1, 999).allowed).toBe(true);
    const refused = log.charge(1, 999);
    expect(refused).toMatchObject({ allowed: false, readings: [{ used: 3, retryAt: 1000 }] });
    expect(log.charge(2, 1000).allowed).toBe(true);
    expect(log.charge(1, 1000).allowed).toBe(false);
  });

  it('keeps at most `limit` live entries for unit requests, and a quarter as many expired ones', () => {
    const log = counterAt({ type: 'log', limit: 50, windowMs: 60_000 });
    for (let t = 0; t < 1_000_000; t += 7) log.charge(1, t);
    // A series holds two numbers per entry and the sum; an expired entry's amount is negative
    // until the expired prefix is cut off.
    const amounts = (log.state as number[]).filter((_, i, series) => i % 2 === 1 && i < series.length - 1);
    expect(amounts.filter((amount) => amount >= 0).length).toBeLessThanOrEqual(50);
    expect(amounts.length).toBeLessThan(50 * 1.25);
  });

  it('counts a charge made after the clock stepped back among expired charges of a long log, and expires it', () => {
    // 10,000 entries: long enough that expired ones stay in place, marked, until a fifth are.
    const log = counterAt({ type: 'log', limit: 100_000, windowMs: 10_000 });
    for (let t = 0; t < 10_000; t++) log.charge(1, t);
    expect(log.charge(0, 10_099, true).readings[0]!.used).toBe(9_900);
    // The clock steps back to 40, among the charges that expired.
    expect(log.charge(1, 40).readings[0]!.used).toBe(9_900);
    expect(log.charge(0, 40, true).readings[0]!.used).toBe(9_901);
    // At 15,000 it has expired too, with those made up to 5,000.
    expect(log.charge(0, 15_000, true).readings[0]).toMatchObject({ used: 4_999, resetAt: 19_999 });
  });

  it('agrees with a plain list of charges through charges, refunds and a clock that steps back', () => {
    // A long log to start with (5,000 entries, one per ms of the window), so that expired entries
    // are kept in place for a while; it thins out as the script runs.
    const windowMs = 5_000;
    // Each step: a charge (amount > 0) or a refund of an earlier charge (amount <= 0), `dt` ms on:
    // mostly dense traffic, sometimes a jump: back to about the charges that just expired, or anywhere.
    const dt = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 3 }) },
      { weight: 1, arbitrary: fc.integer({ min: -windowMs - 40, max: -windowMs + 10 }) },
      { weight: 1, arbitrary: fc.integer({ min: -250, max: 60 }) },
    );
    const steps = fc.array(fc.tuple(dt, fc.integer({ min: -4, max: 5 }), fc.nat()), { maxLength: 600 });
    fc.assert(
      fc.property(steps, (script) => {
        const log = counterAt({ type: 'log', limit: 1_000_000, windowMs });
        let charges: Array<{ at: number; amount: number }> = [];
        for (let at = 0; at < windowMs; at++) {
          log.charge(1, at);
          charges.push({ at, amount: 1 });
        }
        let now = windowMs;
        for (const [dt, amount, pick] of script) {
          now = Math.max(0, now + dt);
          charges = charges.filter(({ at }) => now < at + windowMs);
          if (amount > 0) {
            log.charge(amount, now);
            charges.push({ at: now, amount });
          } else if (charges.length > 0) {
            // Refunds land on the charge made at that time (merged per ms), as leases refund them.
            const { at } = charges[pick % charges.length]!;
            let left = 1 - amount;
            log.refund(left, at, now);
            for (const charge of charges) {
              const taken = charge.at === at ? Math.min(left, charge.amount) : 0;
              charge.amount -= taken;
              left -= taken;
            }
            charges = charges.filter((charge) => charge.amount > 0);
          }
          const expected = charges.reduce((sum, { amount: a }) => sum + a, 0);
          const [reading] = log.charge(0, now, true).readings;
          expect(reading!.used).toBe(expected);
          expect(reading!.resetAt).toBe(charges.length === 0 ? now : Math.max(...charges.map(({ at }) => at)) + windowMs);
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('sliding window counter', () => {
  const limit = 100;
  const windowMs = 10_000;
  const segmentMs = 1_000;
  const arrivals = fc.array(fc.tuple(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 1, max: 30 })), { maxLength: 300 });

  it('never admits more than the limit in any window, and refuses only what an exact log one segment longer would', () => {
    fc.assert(
      fc.property(arrivals, (steps) => {
        const counter = counterAt({ type: 'window', limit, windowMs, segmentMs });
        const admitted: Array<[number, number]> = [];
        let now = 0;
        const inLast = (span: number, at: number) =>
          admitted.filter(([t]) => t > at - span && t <= at).reduce((sum, [, amount]) => sum + amount, 0);
        for (const [dt, amount] of steps) {
          now += dt;
          if (counter.charge(amount, now).allowed) {
            admitted.push([now, amount]);
            expect(inLast(windowMs, now)).toBeLessThanOrEqual(limit);
          } else {
            // The documented worst case: it counts at most one segment beyond the window.
            expect(inLast(windowMs + segmentMs, now) + amount).toBeGreaterThan(limit);
          }
        }
      }),
    );
  });

  it('keeps at most window / segment + 1 segments', () => {
    const counter = counterAt({ type: 'window', limit: 1e12, windowMs, segmentMs });
    for (let t = 0; t < 200_000; t += 13) counter.charge(5, t);
    // A series holds two numbers per entry and the sum.
    expect(((counter.state as number[]).length - 1) / 2).toBeLessThanOrEqual(windowMs / segmentMs + 1);
  });
});

describe('token bucket', () => {
  it('allows a burst, then refills at the rate', () => {
    const bucket = counterAt({ type: 'bucket', limit: 10, windowMs: 1000, burst: 5 });
    for (let i = 0; i < 5; i++) expect(bucket.charge(1, 0).allowed).toBe(true);
    expect(bucket.charge(1, 0)).toMatchObject({ allowed: false, readings: [{ used: 5, retryAt: 100 }] });
    expect(bucket.charge(1, 100).allowed).toBe(true);
    expect(bucket.charge(1, 150).allowed).toBe(false);
    expect(bucket.charge(5, 700).allowed).toBe(true);
  });
});

describe('token bucket arithmetic', () => {
  it('allows the full burst when the rate does not divide evenly', () => {
    const bucket = counterAt({ type: 'bucket', limit: 3, windowMs: 1000, burst: 3 });
    expect([1, 2, 3].map(() => bucket.charge(1, 0).allowed)).toEqual([true, true, true]);
    expect(bucket.charge(1, 0)).toMatchObject({ allowed: false, readings: [{ retryAt: 334 }] });
    expect(bucket.probe(1, 333).allowed).toBe(false);
    expect(bucket.probe(1, 334).allowed).toBe(true);
  });

  it('refunds only what has not drained since the charge', () => {
    // 1,000 per minute, burst 1,000: A reserves all of it; half a minute later B uses 500.
    const bucket = counterAt({ type: 'bucket', limit: 1000, windowMs: 60_000, burst: 1000 });
    expect(bucket.charge(1000, 0).allowed).toBe(true);
    expect(bucket.charge(500, 30_000).allowed).toBe(true);
    bucket.refund(1000, 0, 30_000); // A releases unused: only the 500 still in the bucket come back
    expect(bucket.probe(1000, 30_000).allowed).toBe(false);
    expect(bucket.probe(500, 30_000).allowed).toBe(true);
  });
});

describe('retry times', () => {
  const algorithms: CounterAlgorithm[] = [
    { type: 'log', limit: 20, windowMs: 5_000 },
    { type: 'window', limit: 20, windowMs: 5_000, segmentMs: 500 },
    { type: 'bucket', limit: 20, windowMs: 5_000, burst: 8 },
    { type: 'calendar', limit: 20, periods: [0, 86_400_000, 172_800_000, 259_200_000] },
    { type: 'slots', limit: 3, ttlMs: 4_000 },
  ];

  it.each(algorithms.map((a) => [a.type, a] as const))('%s: a refusal names the exact first moment it would pass, absent other traffic', (_, algorithm) => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 1, max: 8 })), { minLength: 1, maxLength: 60 }),
        (steps) => {
          const counter = counterAt(algorithm);
          let now = 86_400_000 + 1;
          for (const [dt, rawAmount] of steps) {
            now += dt;
            const amount = algorithm.type === 'slots' ? 1 : rawAmount;
            const result = counter.charge(amount, now);
            const { retryAt } = result.readings[0]!;
            if (result.allowed) {
              expect(retryAt).toBe(now);
            } else if (retryAt !== Infinity) {
              expect(retryAt).toBeGreaterThan(now);
              expect(counter.probe(amount, retryAt).allowed).toBe(true);
              expect(counter.probe(amount, retryAt - 1).allowed).toBe(false);
            }
          }
        },
      ),
    );
  });
});

describe('refunds', () => {
  it('land on the charge they undo, and only while it still counts', () => {
    const log = counterAt({ type: 'log', limit: 10, windowMs: 1000 });
    log.charge(4, 0);
    log.charge(3, 500);
    log.refund(2, 0, 600);
    expect(log.probe(0, 600).readings[0]!.used).toBe(5);
    expect(log.probe(0, 1000).readings[0]!.used).toBe(3); // the first charge expired at 1000
    log.refund(9, 500, 700); // never more than was charged there
    expect(log.probe(0, 700).readings[0]!.used).toBe(2);
  });
});

describe('chargeExpiresAt', () => {
  it("is what resetAt reports after adding the charge to an empty counter, for every amount model", () => {
    const models = [
      [logModel, (limit: number, windowMs: number) => ({ type: 'log', limit, windowMs }) as const],
      [windowModel, (limit: number, windowMs: number) => ({ type: 'window', limit, windowMs, segmentMs: Math.max(1, Math.floor(windowMs / 10)) }) as const],
      [bucketModel, (limit: number, windowMs: number) => ({ type: 'bucket', limit, windowMs, burst: limit * 2 }) as const],
      [calendarModel, (limit: number, windowMs: number) => ({ type: 'calendar', limit, periods: [0, windowMs * 1_000, windowMs * 2_000, windowMs * 3_000] }) as const],
    ] as const;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 3_600_000 }), fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1_000_000, max: 2_000_000_000 }), (limit, windowMs, amount, now) => {
        for (const [model, algorithmOf] of models) {
          const algorithm = algorithmOf(limit, windowMs) as never;
          const at = model === calendarModel ? windowMs * 1_000 + (now % (windowMs * 1_000)) : now;
          expect(model.chargeExpiresAt(algorithm, amount, at)).toBe((model as typeof logModel).resetAt(model.add(undefined as never, algorithm, amount, at) as never, algorithm, at));
        }
      }),
    );
  });
});
