import type { Charge, Counter, CounterAlgorithm, CounterReading, StoreBatch, StoreResult } from '@tollgate/core';
import { ADJUSTMENT, BODY_CAPACITY, COUNTED, KIND, NEVER } from './protocol.js';

/** A batch as the Lua engine reads it. */
export interface EncodedBatch {
  /** KEYS: the identities' hash keys, then the spill keys of their long series. */
  keys: string[];
  /** ARGV: the whole batch as one JSON array (see `encodeBatch`). */
  argv: [string];
  /** Where each reading of the reply belongs: `order[j]` is the index in `batch.charges` of the j-th. */
  order: number[];
}

/** What the engine is told about a counter whatever the batch does to it. */
interface EncodedCounter {
  readonly field: string;
  /** `,"<field>"`, and for a series `,"<field>#"` (its body field) too: the fields the engine reads, as JSON. */
  readonly names: string;
  /** The kind, as the protocol numbers them. */
  readonly kind: number;
  /** `,limit,...`: the algorithm's values after its kind. */
  readonly parameters: string;
  /** A log or window, with a body field. */
  readonly series: boolean;
  /** A series that can outgrow its body field, and so needs a spill key: a log holds an entry per millisecond charged, a window one per segment. */
  readonly spills: boolean;
}

/**
 * Compiled limits reuse their algorithm object from call to call (a calendar's while its period
 * lasts, a concurrency limit's while its lease TTL stays the same), so a counter is encoded once.
 */
const encodedCounters = new WeakMap<CounterAlgorithm, EncodedCounter>();

function encodeCounter({ field, algorithm }: Counter): EncodedCounter {
  let encoded = encodedCounters.get(algorithm);
  if (encoded?.field === field) return encoded;
  let parameters: string;
  switch (algorithm.type) {
    case 'log':
      parameters = `,${algorithm.limit},${algorithm.windowMs}`;
      break;
    case 'window':
      parameters = `,${algorithm.limit},${algorithm.windowMs},${algorithm.segmentMs}`;
      break;
    case 'bucket':
      parameters = `,${algorithm.limit},${algorithm.windowMs},${algorithm.burst}`;
      break;
    case 'calendar':
      parameters = `,${algorithm.limit},${algorithm.periods.length},${algorithm.periods.join(',')}`;
      break;
    case 'slots':
      parameters = `,${algorithm.limit},${algorithm.ttlMs}`;
      break;
  }
  const series = algorithm.type === 'log' || algorithm.type === 'window';
  const spills = algorithm.type === 'log' || (algorithm.type === 'window' && Math.ceil(algorithm.windowMs / algorithm.segmentMs) > BODY_CAPACITY);
  const names = series ? `,${JSON.stringify(field)},${JSON.stringify(`${field}#`)}` : `,${JSON.stringify(field)}`;
  encoded = { field, names, kind: KIND[algorithm.type], parameters, series, spills };
  encodedCounters.set(algorithm, encoded);
  return encoded;
}

/** A charge's values as the engine reads them: `,amount`, and for a slot the lease id. */
function chargeValues({ counter, amount, leaseId }: Charge): string {
  return counter.algorithm.type === 'slots' ? `,${amount},${JSON.stringify(leaseId ?? '')}` : `,${amount}`;
}

/** The key of a series' spill: under the identity's hash tag, named by the counter's field. */
function spillKey(hash: string, field: string): string {
  return `${hash}#${field}`;
}

/** A counter of the batch with everything the batch does to it, in batch order. */
interface Pending {
  readonly key: string;
  readonly encoded: EncodedCounter;
  /** The charges' values (`,amount` or `,amount,"lease"`), and how many. */
  charges: string;
  count: number;
  /** The adjustments' values, and how many values that is. */
  adjustments: string;
  length: number;
  /** The index in the batch of its first charge, and of any more. */
  position: number;
  more: number[] | undefined;
}

/**
 * Encodes a batch for the Lua engine. `prefix` namespaces the store's keys; `now` overrides the
 * server's TIME (tests only).
 *
 * The whole batch is one ARGV value, a JSON array: a client sends one argument instead of dozens
 * and pays per argument (more still for a Buffer), the script parses it with one `cjson.decode`,
 * and text travels unchanged through any client (ioredis, or @upstash/redis, which sends JSON
 * strings). Numbers are as JavaScript prints them, the shortest digits that read back as the same
 * double, so integers up to 2^53 stay exact. Decoding costs the script per value, so nothing is
 * sent that the script can work out (apps/bench/README.md has the figures).
 *
 * The batch is regrouped for the script, which handles each counter in one pass: by key, then by
 * counter (each counter once, with the first algorithm the batch gives it), with each counter's
 * charges and then its adjustments in batch order; `order` maps the readings back. Layout: now (or
 * `false`: use TIME), dryRun, the number of hash keys; then per hash key in KEYS order: the number
 * of fields to read, those fields (each counter's, and for a series its body field `<field>#`
 * after it), the counters in that order. A counter: its `KIND`, limit, the kind's parameters (log:
 * window ms; window: window and segment ms; bucket: window ms and burst; calendar: the period count
 * and starts; slots: lease TTL), then, if its kind was sent `COUNTED` higher, its charge count and
 * its adjustments' value count (otherwise one charge and none), the charges (amount, and for slots
 * the lease id), the adjustments (an `ADJUSTMENT` code, then for add: amount; refund: amount, at;
 * release or touch: lease id; reset: nothing); the numbers are in `protocol.ts`. KEYS holds the
 * hash keys, then a spill key (`<hash key>#<field>`, under the identity's hash tag) for every
 * series that can outgrow its body — every log, and every window of more than `BODY_CAPACITY`
 * segments — in order.
 */
export function encodeBatch(batch: StoreBatch, prefix: string, now: number | undefined): EncodedBatch {
  return (batch.adjustments.length === 0 && encodeDecision(batch, prefix, now)) || encodeGrouped(batch, prefix, now);
}

/**
 * `order` for a batch whose readings come back in batch order, by length: read, never changed, so
 * shared between calls.
 */
const IN_ORDER: number[][] = [];

function inOrder(length: number): number[] {
  return (IN_ORDER[length] ??= Array.from({ length }, (_, i) => i));
}

/**
 * The layout of `encodeGrouped` for what almost every call is, a decision: charges only, all on one
 * identity, each counter once. Then the batch needs no regrouping, so it is written out in one pass
 * without the bookkeeping; `undefined` for any other batch.
 */
function encodeDecision({ charges, dryRun }: StoreBatch, prefix: string, now: number | undefined): EncodedBatch | undefined {
  if (charges.length === 0) return undefined;
  const key = charges[0]!.counter.identity.key;
  const hash = prefix + key;
  const keys = [hash];
  let fields = 0;
  let names = '';
  let bodies = '';
  for (let i = 0; i < charges.length; i++) {
    const charge = charges[i]!;
    const { counter } = charge;
    if (counter.identity.key !== key) return undefined;
    for (let j = 0; j < i; j++) if (charges[j]!.counter.field === counter.field) return undefined;
    const encoded = encodeCounter(counter);
    fields += encoded.series ? 2 : 1;
    names += encoded.names;
    if (encoded.spills) keys.push(spillKey(hash, encoded.field));
    bodies += `,${encoded.kind}${encoded.parameters}${chargeValues(charge)}`;
  }
  return { keys, argv: [`[${now === undefined ? 'false' : now},${dryRun},1,${fields}${names}${bodies}]`], order: inOrder(charges.length) };
}

/** Any batch: regrouped by key and by counter (see `encodeBatch`). */
function encodeGrouped(batch: StoreBatch, prefix: string, now: number | undefined): EncodedBatch {
  const counters: Pending[] = [];
  const pendingOf = (counter: Counter): Pending => {
    const { field } = counter;
    const key = counter.identity.key;
    for (let i = 0; i < counters.length; i++) {
      const pending = counters[i]!;
      if (pending.encoded.field === field && pending.key === key) return pending;
    }
    const pending: Pending = { key, encoded: encodeCounter(counter), charges: '', count: 0, adjustments: '', length: 0, position: -1, more: undefined };
    counters.push(pending);
    return pending;
  };
  const { charges, adjustments } = batch;
  for (let i = 0; i < charges.length; i++) {
    const pending = pendingOf(charges[i]!.counter);
    pending.charges += chargeValues(charges[i]!);
    if (pending.count++ === 0) pending.position = i;
    else (pending.more ??= []).push(i);
  }
  for (let i = 0; i < adjustments.length; i++) {
    const adjustment = adjustments[i]!;
    const pending = pendingOf(adjustment.counter);
    switch (adjustment.type) {
      case 'add':
        pending.adjustments += `,${ADJUSTMENT.add},${adjustment.amount}`;
        pending.length += 2;
        break;
      case 'refund':
        pending.adjustments += `,${ADJUSTMENT.refund},${adjustment.amount},${adjustment.at}`;
        pending.length += 3;
        break;
      case 'release':
      case 'touch':
        pending.adjustments += `,${ADJUSTMENT[adjustment.type]},${JSON.stringify(adjustment.leaseId)}`;
        pending.length += 2;
        break;
      case 'reset':
        pending.adjustments += `,${ADJUSTMENT.reset}`;
        pending.length += 1;
        break;
    }
  }

  // By key, in order of first appearance; spill keys follow the hash keys in KEYS, in the order the
  // engine meets their series.
  const hashes: string[] = [];
  for (let i = 0; i < counters.length; i++) {
    const { key } = counters[i]!;
    if (!hashes.includes(key)) hashes.push(key);
  }
  const keys = hashes.map((key) => prefix + key);
  const order: number[] = [];
  let text = `[${now === undefined ? 'false' : now},${batch.dryRun},${hashes.length}`;
  for (let k = 0; k < hashes.length; k++) {
    const key = hashes[k]!;
    let fields = 0;
    let names = '';
    let bodies = '';
    for (let i = 0; i < counters.length; i++) {
      const pending = counters[i]!;
      if (pending.key !== key) continue;
      const { encoded: counter } = pending;
      fields += counter.series ? 2 : 1;
      names += counter.names;
      if (counter.spills) keys.push(spillKey(prefix + key, counter.field));
      // One charge and no adjustments, as in every decision, goes without its counts.
      bodies +=
        pending.count === 1 && pending.length === 0
          ? `,${counter.kind}${counter.parameters}`
          : `,${counter.kind + COUNTED}${counter.parameters},${pending.count},${pending.length}`;
      bodies += `${pending.charges}${pending.adjustments}`;
      if (pending.count > 0) order.push(pending.position);
      if (pending.more) for (let j = 0; j < pending.more.length; j++) order.push(pending.more[j]!);
    }
    text += `,${fields}${names}${bodies}`;
  }
  return { keys, argv: [`${text}]`], order };
}

/** Reads the engine's reply, `[now, allowed, used, resetAt, retryAt, ...]` with `NEVER` for a retry that never comes, into batch order. */
export function decodeReply(reply: unknown, { order }: EncodedBatch): StoreResult {
  if (!Array.isArray(reply) || reply.length !== 2 + 3 * order.length) {
    throw new TypeError(`unexpected reply from the Tollgate script: ${JSON.stringify(reply)?.slice(0, 200)}`);
  }
  const readings: CounterReading[] = new Array(order.length);
  for (let j = 0, i = 2; j < order.length; j++, i += 3) {
    const retryAt = Number(reply[i + 2]);
    readings[order[j]!] = { used: Number(reply[i]), resetAt: Number(reply[i + 1]), retryAt: retryAt === NEVER ? Infinity : retryAt };
  }
  return { now: Number(reply[0]), allowed: Number(reply[1]) === 1, readings };
}
