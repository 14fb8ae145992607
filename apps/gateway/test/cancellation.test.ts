import { EventEmitter } from 'node:events';
import type { FastifyReply } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cancellation } from '../src/proxy/upstream.js';

/** A reply whose raw response is an emitter: `finish` ends it sent, `leave` as a client that went away. */
function fakeReply() {
  const raw = Object.assign(new EventEmitter(), { writableFinished: false });
  return {
    reply: { raw } as unknown as FastifyReply,
    raw,
    finish() {
      raw.writableFinished = true;
      raw.emit('close');
    },
    leave() {
      raw.emit('close');
    },
  };
}

const TEN_MINUTES = 600_000;

// Issue 25's suspect: a timer (and its signal) per upstream call that outlived the call by the
// whole upstream timeout. A finished request must leave nothing behind: no timer, no listener.
describe('cancellation of an upstream call', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('leaves no timer and no listener once the response has been sent', () => {
    const { reply, raw, finish } = fakeReply();
    const cancel = cancellation(reply, TEN_MINUTES);
    // The timeout is a timer these fake timers see (so that seeing none afterwards means something).
    expect(vi.getTimerCount()).toBe(1);

    finish();

    expect(vi.getTimerCount()).toBe(0);
    expect(raw.listenerCount('close')).toBe(0);
    vi.advanceTimersByTime(TEN_MINUTES);
    expect(cancel.signal.aborted).toBe(false);
    expect(cancel.clientGone).toBe(false);
  });

  it('aborts the call when the client goes away, and leaves no timer', () => {
    const { reply, raw, leave } = fakeReply();
    const cancel = cancellation(reply, TEN_MINUTES);

    leave();

    expect(cancel.signal.aborted).toBe(true);
    expect((cancel.signal.reason as Error).name).toBe('AbortError');
    expect(cancel.clientGone).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(raw.listenerCount('close')).toBe(0);
  });

  it('aborts the call with a TimeoutError when the upstream takes longer than its timeout', () => {
    const { reply } = fakeReply();
    const cancel = cancellation(reply, TEN_MINUTES);

    vi.advanceTimersByTime(TEN_MINUTES - 1);
    expect(cancel.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);

    expect(cancel.signal.aborted).toBe(true);
    expect((cancel.signal.reason as Error).name).toBe('TimeoutError');
    expect(cancel.clientGone).toBe(false);
  });
});
