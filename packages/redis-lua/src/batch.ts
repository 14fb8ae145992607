import type { Counter, CounterAlgorithm, StoreBatch, StoreResult } from '@tollgate/core';

/** A batch as the Lua engine reads it: keys by index into KEYS, the rest in ARGV. */
export interface EncodedBatch {
  /** The hash keys, in KEYS order. */
  keys: string[];
  /** ARGV: the batch, one value per entry (see `encodeBatch`). */
  argv: string[];
}

const TYPES = ['log', 'window', 'bucket', 'calendar', 'slots'] as const;
const ADJUSTMENTS = ['add', 'refund', 'release', 'touch', 'reset'] as const;

/** The numbers after the type: what the Lua models read as alg[2], alg[3], ... */
function parameters(algorithm: CounterAlgorithm): readonly number[] {
  switch (algorithm.type) {
    case 'log':
      return [algorithm.limit, algorithm.windowMs];
    case 'window':
      return [algorithm.limit, algorithm.windowMs, algorithm.segmentMs];
    case 'bucket':
      return [algorithm.limit, algorithm.windowMs, algorithm.burst];
    case 'calendar':
      return [algorithm.limit, ...algorithm.periods];
    case 'slots':
      return [algorithm.limit, algorithm.ttlMs];
  }
}

/** Compiled limits reuse their algorithm object from call to call: turn its parameters into text once. */
const algorithmArgs = new WeakMap<CounterAlgorithm, readonly string[]>();

function algorithmArgsOf(algorithm: CounterAlgorithm): readonly string[] {
  let args = algorithmArgs.get(algorithm);
  if (args === undefined) {
    const values = parameters(algorithm);
    args = [String(TYPES.indexOf(algorithm.type) + 1), String(values.length), ...values.map(String)];
    algorithmArgs.set(algorithm, args);
  }
  return args;
}

/**
 * Encodes a batch for the Lua engine. `prefix` namespaces the store's keys; `now` overrides the
 * server's TIME (tests only).
 *
 * Every value is its own ARGV entry, as text: Redis hands the script ARGV as a ready table, so
 * reading a value costs one `tonumber` and no parsing, and text travels unchanged through any client
 * (ioredis, or @upstash/redis, which sends JSON strings). Numbers are decimal: JavaScript prints the
 * shortest digits that read back as the same double, so integers up to 2^53 stay exact. Layout:
 * now (empty: use TIME), dryRun, charges, adjustments; then each charge: counter, amount, lease id;
 * then each adjustment: kind, counter, amount, at, lease id. A counter is its key index (1-based),
 * field, type, parameter count, parameters.
 */
export function encodeBatch(batch: StoreBatch, prefix: string, now: number | undefined): EncodedBatch {
  const keys: string[] = [];
  const index = new Map<string, number>();
  const argv = [now === undefined ? '' : String(now), batch.dryRun ? '1' : '0', String(batch.charges.length), String(batch.adjustments.length)];
  const counter = ({ identity, field, algorithm }: Counter) => {
    let k = index.get(identity.key);
    if (k === undefined) {
      keys.push(prefix + identity.key);
      index.set(identity.key, (k = keys.length));
    }
    argv.push(String(k), field, ...algorithmArgsOf(algorithm));
  };
  for (const charge of batch.charges) {
    counter(charge.counter);
    argv.push(String(charge.amount), charge.leaseId ?? '');
  }
  for (const adjustment of batch.adjustments) {
    argv.push(String(ADJUSTMENTS.indexOf(adjustment.type) + 1));
    counter(adjustment.counter);
    argv.push(
      String('amount' in adjustment ? adjustment.amount : 0),
      String('at' in adjustment ? adjustment.at : 0),
      'leaseId' in adjustment ? adjustment.leaseId : '',
    );
  }
  return { keys, argv };
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
