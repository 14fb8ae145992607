import type { CounterAlgorithm, StoreBatch, StoreResult } from '@tollgate/core';

/** A batch as the Lua engine reads it: keys by index into KEYS, algorithms as arrays. */
export interface EncodedBatch {
  /** The hash keys, in KEYS order. */
  keys: string[];
  /** ARGV[1]. */
  json: string;
}

function algorithmArray(algorithm: CounterAlgorithm): Array<string | number> {
  switch (algorithm.type) {
    case 'log':
      return ['log', algorithm.limit, algorithm.windowMs];
    case 'window':
      return ['window', algorithm.limit, algorithm.windowMs, algorithm.segmentMs];
    case 'bucket':
      return ['bucket', algorithm.limit, algorithm.windowMs, algorithm.burst];
    case 'calendar':
      return ['calendar', algorithm.limit, ...algorithm.periods];
    case 'slots':
      return ['slots', algorithm.limit, algorithm.ttlMs];
  }
}

/**
 * Encodes a batch for the Lua engine. `prefix` namespaces the store's keys; `now` overrides the
 * server's TIME (tests only).
 */
export function encodeBatch(batch: StoreBatch, prefix: string, now: number | undefined): EncodedBatch {
  const keys: string[] = [];
  const index = new Map<string, number>();
  const keyIndex = (key: string): number => {
    let k = index.get(key);
    if (k === undefined) {
      keys.push(prefix + key);
      index.set(key, (k = keys.length));
    }
    return k;
  };
  const charges = batch.charges.map(({ counter, amount, leaseId }) => ({
    k: keyIndex(counter.identity.key),
    f: counter.field,
    a: algorithmArray(counter.algorithm),
    m: amount,
    ...(leaseId !== undefined && { l: leaseId }),
  }));
  const adjustments = batch.adjustments.map((adjustment) => ({
    t: adjustment.type,
    k: keyIndex(adjustment.counter.identity.key),
    f: adjustment.counter.field,
    a: algorithmArray(adjustment.counter.algorithm),
    ...('amount' in adjustment && { m: adjustment.amount }),
    ...('at' in adjustment && { at: adjustment.at }),
    ...('leaseId' in adjustment && { l: adjustment.leaseId }),
  }));
  const json = JSON.stringify({ ...(now !== undefined && { n: now }), d: batch.dryRun ? 1 : 0, c: charges, j: adjustments });
  return { keys, json };
}

/** Reads the engine's reply: `[now, allowed, used, resetAt, retryAt, ...]`, -1 meaning never. */
export function decodeReply(reply: unknown): StoreResult {
  if (!Array.isArray(reply) || reply.length < 2 || (reply.length - 2) % 3 !== 0) {
    throw new TypeError(`unexpected reply from the Tollgate script: ${JSON.stringify(reply)?.slice(0, 200)}`);
  }
  const values = reply.map(Number);
  const readings = [];
  for (let i = 2; i < values.length; i += 3) {
    readings.push({ used: values[i]!, resetAt: values[i + 1]!, retryAt: values[i + 2] === -1 ? Infinity : values[i + 2]! });
  }
  return { now: values[0]!, allowed: values[1] === 1, readings };
}
