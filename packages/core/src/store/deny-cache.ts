import { ConfigurationError, errorPrefix } from '../errors.js';
import type { Counter, CounterReading, StoreBatch, StoreResult } from './contract.js';

/** Options of a store's deny cache. */
export interface DenyCacheOptions {
  /**
   * The most refusals remembered at once; the oldest is forgotten first. Each costs a few hundred
   * bytes, so the default bounds the cache near a few MB under a flood of distinct callers.
   * @default 10000
   */
  maxEntries?: number;
}

/** A refusal the store made, as remembered: what each counter of the batch read, and what was asked. */
interface Refusal {
  /** The store's time of the refusal, and the local clock's at the same moment. */
  readonly storeNow: number;
  readonly localNow: number;
  /** Per counter of the refused batch: the amount asked and the reading. */
  readonly counters: ReadonlyMap<string, { readonly amount: number; readonly reading: CounterReading }>;
}

/** A counter known to refuse its amount until a local time. */
interface Block {
  readonly until: number;
  readonly refusal: Refusal;
}

const counterId = ({ identity, field }: Counter) => `${identity.key}\n${field}`;

/**
 * An in-process memory of recent refusals, for stores that pay a network round trip per decision
 * (HTTP on serverless): while a counter is known to refuse, the same demand is refused locally, with
 * no request, and the result says so (`cached`).
 *
 * What it replays is exactly a refusal the store made for the same amounts on the same counters,
 * aged by the time since, so `retryAfterMs` is what the store said, counted down. It remembers a
 * refusal only until the store's own retry time, never for concurrency (slots free when leases are
 * released, which the store does not predict) nor for a demand that can never pass. It forgets a
 * counter as soon as this process refunds, releases or resets it. What it cannot see is another
 * process giving budget back early (a lease released elsewhere, an admin reset): until the
 * remembered time, this process keeps refusing that demand. That is the price of zero requests;
 * stores let you turn the cache off.
 */
export class DenyCache {
  private readonly blocks = new Map<string, Block>();
  private readonly maxEntries: number;

  constructor(
    options: DenyCacheOptions = {},
    private readonly clock: () => number = Date.now,
  ) {
    const { maxEntries = 10_000 } = options;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new ConfigurationError(`${errorPrefix()} denyCache.maxEntries must be a whole number of at least 1, got ${String(maxEntries)}`);
    }
    this.maxEntries = maxEntries;
  }

  /** Remembered counters (some may have expired and not been swept yet). */
  get size(): number {
    return this.blocks.size;
  }

  /**
   * A refusal from memory for `batch`, or `undefined` when the store must be asked: some charge is
   * on a counter known to refuse until later, and every charge asks what the remembered refusal
   * asked of the same counters.
   */
  lookup(batch: StoreBatch): StoreResult | undefined {
    if (this.blocks.size === 0 || batch.charges.length === 0) return undefined;
    const now = this.clock();
    let refusal: Refusal | undefined;
    for (const { counter } of batch.charges) {
      const id = counterId(counter);
      const block = this.blocks.get(id);
      if (block === undefined) continue;
      if (block.until <= now) this.blocks.delete(id);
      else refusal ??= block.refusal;
    }
    if (refusal === undefined) return undefined;
    const readings: CounterReading[] = [];
    for (const { counter, amount } of batch.charges) {
      const remembered = refusal.counters.get(counterId(counter));
      if (remembered === undefined || remembered.amount !== amount) return undefined;
      readings.push(remembered.reading);
    }
    return { now: refusal.storeNow + (now - refusal.localNow), allowed: false, readings, cached: true };
  }

  /** Learns from the store's answer to `batch`: remembers a refusal, forgets what was given back. */
  learn(batch: StoreBatch, result: StoreResult): void {
    if (result.allowed) {
      // Given back here: the store may admit these counters sooner than remembered.
      for (const adjustment of batch.adjustments) {
        if (adjustment.type !== 'add' && adjustment.type !== 'touch') this.blocks.delete(counterId(adjustment.counter));
      }
      return;
    }
    const counters = new Map<string, { amount: number; reading: CounterReading }>();
    batch.charges.forEach(({ counter, amount }, i) => counters.set(counterId(counter), { amount, reading: result.readings[i]! }));
    const refusal: Refusal = { storeNow: result.now, localNow: this.clock(), counters };
    batch.charges.forEach(({ counter }, i) => {
      const { retryAt } = result.readings[i]!;
      if (retryAt <= result.now || retryAt === Infinity || counter.algorithm.type === 'slots') return;
      const id = counterId(counter);
      this.blocks.delete(id); // re-inserted last, so eviction takes the oldest first
      this.blocks.set(id, { until: refusal.localNow + (retryAt - result.now), refusal });
    });
    for (const id of this.blocks.keys()) {
      if (this.blocks.size <= this.maxEntries) break;
      this.blocks.delete(id);
    }
  }
}
