import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../src/store/deadlines.js';

describe('deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires the calls still pending after the timeout, oldest first, and only those', () => {
    const deadlines = new Deadlines(100);
    const expired: string[] = [];
    const a = deadlines.start(() => expired.push('a'));
    vi.advanceTimersByTime(40);
    deadlines.start(() => expired.push('b'));
    const c = deadlines.start(() => expired.push('c'));
    deadlines.settle(a);
    deadlines.settle(c);
    vi.advanceTimersByTime(59);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual(['b']);
  });

  it('forgets a settled call at once, so what its callback holds can be collected', () => {
    const deadlines = new Deadlines(1_000);
    const queue = (deadlines as unknown as { queue: unknown[] }).queue;
    const calls = Array.from({ length: 1_000 }, () => deadlines.start(() => {}));
    expect(deadlines.size).toBe(1_000);
    // Out of order: the first call stays pending while the others settle behind it.
    for (const call of calls.slice(1)) deadlines.settle(call);
    expect(deadlines.size).toBe(1);
    expect(calls.slice(1).every((call) => call.expire === undefined)).toBe(true);
    deadlines.settle(calls[0]!);
    expect(deadlines.size).toBe(0);
    expect(queue).toHaveLength(0);
  });

  it('keeps its queue about as long as the calls in flight when calls settle out of order', () => {
    const deadlines = new Deadlines(1_000);
    const queue = (deadlines as unknown as { queue: unknown[] }).queue;
    const inFlight = Array.from({ length: 64 }, () => deadlines.start(() => {}));
    for (let i = 0; i < 100_000; i++) {
      // Settle a call from the middle of those in flight, and start another.
      deadlines.settle(inFlight.splice(i % 32, 1)[0]!);
      inFlight.push(deadlines.start(() => {}));
    }
    expect(deadlines.size).toBe(64);
    expect(queue.length).toBeLessThan(1_000);
  });
});
