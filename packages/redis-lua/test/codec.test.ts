import type { Counter, CounterAlgorithm, StoreBatch } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { decodeReply, encodeBatch } from '../src/codec.js';

/**
 * The batch as the engine script reads it, byte for byte. The numbers are written out on purpose:
 * this pins the wire, so a change to the encoder or to the protocol's constants shows here (the
 * stores' tests show whether the script still agrees).
 */
const counter = (id: string, field: string, algorithm: CounterAlgorithm): Counter => ({
  identity: { key: `t:{user:${id}}`, namespace: 't:user', id },
  field,
  algorithm,
});
const log = counter('a', 'rpm', { type: 'log', limit: 20, windowMs: 60_000 });
const window = counter('a', 'tpm', { type: 'window', limit: 5_000, windowMs: 60_000, segmentMs: 10_000 });
const longWindow = counter('a', 'tph', { type: 'window', limit: 5_000, windowMs: 3_600_000, segmentMs: 60_000 });
const bucket = counter('a', 'b', { type: 'bucket', limit: 10, windowMs: 1_000, burst: 15 });
const calendar = counter('a', 'usd', { type: 'calendar', limit: 1_000, periods: [0, 100, 200] });
const slots = counter('a', 'inflight', { type: 'slots', limit: 4, ttlMs: 30_000 });
const otherLog = counter('b', 'rpm', { type: 'log', limit: 20, windowMs: 60_000 });

const encoded = (batch: StoreBatch, prefix: string, now: number | undefined) => {
  const { keys, argv, order } = encodeBatch(batch, prefix, now);
  return { keys, values: JSON.parse(argv[0]) as unknown[], order };
};

describe('encodeBatch', () => {
  it('writes a decision (one identity, charges only) without counts, with spill keys for what can outgrow its body', () => {
    const batch: StoreBatch = {
      charges: [
        ...[log, window, longWindow, bucket, calendar].map((c) => ({ counter: c, amount: 3 })),
        { counter: slots, amount: 1, leaseId: 'L"1' },
      ],
      adjustments: [],
      dryRun: false,
    };
    expect(encoded(batch, 'p:', undefined)).toEqual({
      // A log always spills; a window only with more segments than a body holds (60 here, 6 above).
      keys: ['p:t:{user:a}', 'p:t:{user:a}#rpm', 'p:t:{user:a}#tph'],
      // prettier-ignore
      values: [
        false, false, 1, // now (the server's), dryRun, one hash key
        9, 'rpm', 'rpm#', 'tpm', 'tpm#', 'tph', 'tph#', 'b', 'usd', 'inflight',
        1, 20, 60_000, 3, // log: kind, limit, window; the charge
        2, 5_000, 60_000, 10_000, 3, // window: kind, limit, window, segment
        2, 5_000, 3_600_000, 60_000, 3,
        3, 10, 1_000, 15, 3, // bucket: kind, limit, window, burst
        4, 1_000, 3, 0, 100, 200, 3, // calendar: kind, limit, period count, starts
        5, 4, 30_000, 1, 'L"1', // slots: kind, limit, TTL; the charge and its lease
      ],
      order: [0, 1, 2, 3, 4, 5],
    });
  });

  it('regroups any other batch by key and counter, with counts (kind + 8) where a counter has more than one charge', () => {
    const batch: StoreBatch = {
      charges: [
        { counter: otherLog, amount: 1 },
        { counter: log, amount: 2 },
        { counter: otherLog, amount: 4 },
      ],
      adjustments: [
        { type: 'add', counter: window, amount: 5 },
        { type: 'refund', counter: log, amount: 1, at: 1_234 },
        { type: 'release', counter: slots, leaseId: 'x' },
        { type: 'touch', counter: slots, leaseId: 'y' },
        { type: 'reset', counter: bucket },
      ],
      dryRun: true,
    };
    expect(encoded(batch, '', 1_700_000_000_000)).toEqual({
      keys: ['t:{user:b}', 't:{user:a}', 't:{user:b}#rpm', 't:{user:a}#rpm'],
      // prettier-ignore
      values: [
        1_700_000_000_000, true, 2,
        2, 'rpm', 'rpm#',
        9, 20, 60_000, 2, 0, 1, 4, // log, counted: two charges, no adjustment values
        6, 'rpm', 'rpm#', 'tpm', 'tpm#', 'inflight', 'b',
        9, 20, 60_000, 1, 3, 2, 2, 1, 1_234, // one charge, then refund (2): amount, at
        10, 5_000, 60_000, 10_000, 0, 2, 1, 5, // no charge, then add (1): amount
        13, 4, 30_000, 0, 4, 3, 'x', 4, 'y', // release (3), touch (4)
        11, 10, 1_000, 15, 0, 1, 5, // reset (5)
      ],
      order: [0, 2, 1],
    });
  });
});

describe('decodeReply', () => {
  it('puts readings back in batch order, with -1 as a retry that never comes', () => {
    const { order } = encodeBatch(
      { charges: [{ counter: otherLog, amount: 1 }, { counter: log, amount: 1 }, { counter: otherLog, amount: 1 }], adjustments: [], dryRun: true },
      '',
      undefined,
    );
    expect(decodeReply([50, 0, 1, 10, 10, 2, 20, -1, 3, 30, 40], { keys: [], argv: [''], order })).toEqual({
      now: 50,
      allowed: false,
      readings: [
        { used: 1, resetAt: 10, retryAt: 10 },
        { used: 3, resetAt: 30, retryAt: 40 },
        { used: 2, resetAt: 20, retryAt: Infinity },
      ],
    });
  });

  it('refuses a reply of the wrong shape', () => {
    expect(() => decodeReply([1, 1, 0], { keys: [], argv: [''], order: [0] })).toThrow(/unexpected reply/);
    expect(() => decodeReply('OK', { keys: [], argv: [''], order: [] })).toThrow(/unexpected reply/);
  });
});
