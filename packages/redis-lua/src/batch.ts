import type { Counter, CounterAlgorithm, StoreBatch, StoreResult } from '@tollgate/core';

/** A batch as the Lua engine reads it: keys by index into KEYS, the rest in ARGV[1]. */
export interface EncodedBatch {
  /** The hash keys, in KEYS order. */
  keys: string[];
  /** ARGV[1]: the batch in the engine's binary layout. */
  argv: Uint8Array;
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

/** A growing big-endian buffer, reused from batch to batch (encoding is synchronous). */
class Writer {
  private bytes = new Uint8Array(1024);
  private view = new DataView(this.bytes.buffer);
  length = 0;
  private static readonly text = new TextEncoder();
  /** Field names come from the policy, so there are few: encode each once. */
  private static readonly encoded = new Map<string, Uint8Array>();

  private room(size: number): number {
    if (this.length + size > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + size));
      grown.set(this.bytes);
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += size;
    return at;
  }
  // Reserve first, then write: room() may replace the buffer and its view.
  u8(value: number): void {
    if (!(value >= 0 && value <= 0xff)) throw new RangeError(`[tollgate] a batch value of ${value} does not fit the engine's byte field`);
    const at = this.room(1);
    this.view.setUint8(at, value);
  }
  u16(value: number): void {
    if (!(value >= 0 && value <= 0xffff)) throw new RangeError(`[tollgate] a batch value of ${value} does not fit the engine's 16-bit field`);
    const at = this.room(2);
    this.view.setUint16(at, value);
  }
  f64(value: number): void {
    const at = this.room(8);
    this.view.setFloat64(at, value);
  }
  /** A field name: from the policy, so few and repeated; encoded once (up to a bound). */
  field(value: string): void {
    let encoded = Writer.encoded.get(value);
    if (!encoded) {
      encoded = Writer.text.encode(value);
      if (Writer.encoded.size < 10_000) Writer.encoded.set(value, encoded);
    }
    this.bytes16(encoded);
  }
  string(value: string): void {
    this.bytes16(Writer.text.encode(value));
  }
  private bytes16(encoded: Uint8Array): void {
    this.u16(encoded.length);
    const at = this.room(encoded.length);
    this.bytes.set(encoded, at);
  }
  reset(): this {
    this.length = 0;
    return this;
  }
  /** A copy of what was written: the buffer itself is reused by the next batch. */
  copy(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

const writer = new Writer();

/**
 * Encodes a batch for the Lua engine. `prefix` namespaces the store's keys; `now` overrides the
 * server's TIME (tests only).
 *
 * Layout (big-endian): now f64 (NaN: use TIME), dryRun u8, charges u16, adjustments u16; then each
 * charge: counter, amount f64, lease id; then each adjustment: kind u8, counter, amount f64, at f64,
 * lease id. A counter is key index u16 (1-based), field, type u8, parameter count u8, parameters
 * f64...; strings are a u16 byte length and UTF-8.
 */
export function encodeBatch(batch: StoreBatch, prefix: string, now: number | undefined): EncodedBatch {
  const keys: string[] = [];
  const index = new Map<string, number>();
  const out = writer.reset();
  const counter = ({ identity, field, algorithm }: Counter) => {
    let k = index.get(identity.key);
    if (k === undefined) {
      keys.push(prefix + identity.key);
      index.set(identity.key, (k = keys.length));
    }
    out.u16(k);
    out.field(field);
    const values = parameters(algorithm);
    out.u8(TYPES.indexOf(algorithm.type) + 1);
    out.u8(values.length);
    for (const value of values) out.f64(value);
  };
  out.f64(now ?? Number.NaN);
  out.u8(batch.dryRun ? 1 : 0);
  out.u16(batch.charges.length);
  out.u16(batch.adjustments.length);
  for (const charge of batch.charges) {
    counter(charge.counter);
    out.f64(charge.amount);
    out.string(charge.leaseId ?? '');
  }
  for (const adjustment of batch.adjustments) {
    out.u8(ADJUSTMENTS.indexOf(adjustment.type) + 1);
    counter(adjustment.counter);
    out.f64('amount' in adjustment ? adjustment.amount : 0);
    out.f64('at' in adjustment ? adjustment.at : 0);
    out.string('leaseId' in adjustment ? adjustment.leaseId : '');
  }
  return { keys, argv: out.copy() };
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
