import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../src/deadlines.js';

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
    const pending = (deadlines as unknown as { pending: Map<number, unknown> }).pending;
    const ids = Array.from({ length: 1_000 }, () => deadlines.start(() => {}));
    expect(pending.size).toBe(1_000);
    for (const id of ids) deadlines.settle(id);
    expect(pending.size).toBe(0);
  });
});
