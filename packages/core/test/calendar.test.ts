import { describe, expect, it } from 'vitest';
import { CalendarPeriods } from '../src/policy/calendar.js';
import { createLimiter } from '../src/index.js';
import { EngineStore, manualClock } from './support/engine-store.js';

const hours = (ms: number) => ms / 3_600_000;

describe('calendar periods', () => {
  it('a UTC day starts at midnight UTC', () => {
    const periods = new CalendarPeriods('day', 'UTC').around(Date.UTC(2026, 2, 8, 15, 30));
    expect(periods.map((t) => new Date(t).toISOString())).toEqual([
      '2026-03-07T00:00:00.000Z',
      '2026-03-08T00:00:00.000Z',
      '2026-03-09T00:00:00.000Z',
      '2026-03-10T00:00:00.000Z',
    ]);
  });

  it('New York days follow DST: 23 hours in spring, 25 in autumn', () => {
    const ny = new CalendarPeriods('day', 'America/New_York');
    const spring = ny.around(Date.UTC(2026, 2, 8, 12)); // 2026-03-08 is the spring-forward day
    expect(new Date(spring[1]!).toISOString()).toBe('2026-03-08T05:00:00.000Z'); // midnight EST
    expect(hours(spring[2]! - spring[1]!)).toBe(23);
    const autumn = ny.around(Date.UTC(2026, 10, 1, 12)); // 2026-11-01 falls back
    expect(new Date(autumn[1]!).toISOString()).toBe('2026-11-01T04:00:00.000Z'); // midnight EDT
    expect(hours(autumn[2]! - autumn[1]!)).toBe(25);
  });

  it('handles half-hour zones and zones ahead of UTC', () => {
    const kolkata = new CalendarPeriods('day', 'Asia/Kolkata').around(Date.UTC(2026, 5, 1, 20)); // 01:30 on June 2 there
    expect(new Date(kolkata[1]!).toISOString()).toBe('2026-06-01T18:30:00.000Z');
  });

  it('weeks start on Monday and months on the 1st', () => {
    const week = new CalendarPeriods('week', 'UTC').around(Date.UTC(2026, 10, 26)); // a Thursday
    expect(new Date(week[1]!).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(new Date(week[2]!).toISOString()).toBe('2026-11-30T00:00:00.000Z');
    const month = new CalendarPeriods('month', 'Europe/Paris').around(Date.UTC(2026, 1, 14));
    expect(new Date(month[1]!).toISOString()).toBe('2026-01-31T23:00:00.000Z');
    expect(new Date(month[2]!).toISOString()).toBe('2026-02-28T23:00:00.000Z');
  });

  it('never uses the server time zone', () => {
    const before = process.env.TZ;
    process.env.TZ = 'Pacific/Kiritimati';
    try {
      const periods = new CalendarPeriods('day', 'UTC').around(Date.UTC(2026, 0, 1, 23));
      expect(new Date(periods[1]!).toISOString()).toBe('2026-01-01T00:00:00.000Z');
    } finally {
      process.env.TZ = before;
    }
  });
});

describe('calendar limits', () => {
  it('a daily budget resets at midnight in its zone, and not before', async () => {
    const clock = manualClock(Date.UTC(2026, 2, 8, 4, 59, 59)); // 23:59:59 on March 7 in New York
    const limiter = createLimiter({
      store: new EngineStore(clock),
      clock,
      limits: [{ name: 'daily', scope: 'user', resource: 'requests', limit: 1, reset: { every: 'day', timeZone: 'America/New_York' } }],
    });
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    const refused = await limiter.acquire({ user: 'u' });
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 1000, limits: [{ resetAt: Date.UTC(2026, 2, 8, 5) }] });
    clock.advance(1000);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
  });

  it('a refund after midnight does not touch the new day', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1, 23, 59));
    const limiter = createLimiter({
      store: new EngineStore(clock),
      clock,
      limits: [{ name: 'daily-tokens', scope: 'user', resource: 'tokens', limit: 1000, reset: { every: 'day' } }],
    });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 800 });
    clock.advance(120_000);
    await limiter.acquire({ user: 'u' }, { tokens: 300 });
    await lease!.release(); // the 800 were charged yesterday: nothing to give back today
    expect((await limiter.usage({ user: 'u' }))[0]!.used).toBe(300);
  });
});
