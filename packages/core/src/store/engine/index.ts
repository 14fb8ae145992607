import type { Adjustment, Counter, CounterAlgorithm, CounterReading, StoreBatch, StoreResult } from '../contract.js';
import { bucketModel } from './bucket.js';
import { calendarModel } from './calendar.js';
import { logModel } from './log.js';
import type { CounterModel, CounterReader } from './model.js';
import { slotsModel, type SlotsState } from './slots.js';
import { windowModel } from './window.js';

/**
 * Where an engine-backed store keeps counter states. `get` may return the live object (memory) or a
 * fresh copy (SQLite); the engine calls `set` for every state it changed.
 */
export interface CounterTable {
  get(counter: Counter): unknown;
  /** Saves a changed state, or deletes it when `state` is undefined; `expiresAt` is when it may be dropped. */
  set(counter: Counter, state: unknown, expiresAt: number): void;
}

// The engine is generic over algorithms; each model checks its own state shape.
type AnyReader = CounterReader<unknown, CounterAlgorithm>;
type AnyModel = CounterModel<unknown, CounterAlgorithm>;

const amountModels = {
  log: logModel,
  window: windowModel,
  bucket: bucketModel,
  calendar: calendarModel,
} as unknown as Record<Exclude<CounterAlgorithm['type'], 'slots'>, AnyModel>;

function readerFor(algorithm: CounterAlgorithm): AnyReader {
  return algorithm.type === 'slots' ? (slotsModel as unknown as AnyReader) : amountModels[algorithm.type];
}

function save(table: CounterTable, counter: Counter, state: unknown): void {
  const expiresAt = state === undefined ? 0 : readerFor(counter.algorithm).expiresAt(state, counter.algorithm);
  table.set(counter, state, expiresAt);
}

function load(table: CounterTable, counter: Counter, now: number): unknown {
  return readerFor(counter.algorithm).prune(table.get(counter), counter.algorithm, now);
}

/**
 * When everything in a counter will have expired once a charge of `amount` is added at `now`, given
 * the reading before it: readings describe the state before the batch, and a caller showing an
 * admitted request's limits needs the state after it. Computed from the models, so it holds for
 * every store: when this charge alone would stop counting, combined with what was there. Runs for
 * every admitted charge, so it computes from the algorithm and builds no state.
 */
export function resetAfterCharge(algorithm: CounterAlgorithm, amount: number, resetAtBefore: number, now: number): number {
  if (algorithm.type === 'slots') return Math.max(resetAtBefore, now + algorithm.ttlMs); // a lease holds its slot for ttlMs
  if (amount <= 0) return resetAtBefore;
  const alone = amountModels[algorithm.type].chargeExpiresAt(algorithm, amount, now);
  // A bucket drains in order, so a charge extends it by its own drain time; the other models keep
  // each charge for a fixed time, so the later expiry wins.
  return algorithm.type === 'bucket' ? Math.max(resetAtBefore, now) + (alone - now) : Math.max(resetAtBefore, alone);
}

/**
 * Applies a batch to a table: the reference semantics of the store contract, shared by the memory
 * and SQLite stores (the Redis Lua mirrors it, and the conformance suite checks they agree). The
 * caller provides atomicity (a synchronous block, a transaction).
 */
export function applyBatch(table: CounterTable, batch: StoreBatch, now: number): StoreResult {
  const { charges } = batch;
  const states: unknown[] = new Array(charges.length);
  const readings: CounterReading[] = new Array(charges.length);
  let allowed = true;
  for (let i = 0; i < charges.length; i++) {
    const { counter, amount } = charges[i]!;
    const reader = readerFor(counter.algorithm);
    const state = load(table, counter, now);
    const retryAt = reader.retryAt(state, counter.algorithm, amount > 1 ? amount : 1, now);
    states[i] = state;
    readings[i] = {
      used: reader.used(state, counter.algorithm, now),
      resetAt: reader.resetAt(state, counter.algorithm, now),
      retryAt,
    };
    if (retryAt > now) allowed = false;
  }
  if (!allowed || batch.dryRun) return { now, allowed, readings };

  for (let i = 0; i < charges.length; i++) {
    const { counter, amount, leaseId } = charges[i]!;
    const { algorithm } = counter;
    if (algorithm.type === 'slots') {
      save(table, counter, slotsModel.hold(states[i] as SlotsState | undefined, algorithm, leaseId!, now));
    } else if (amount > 0) {
      save(table, counter, amountModels[algorithm.type].add(states[i], algorithm, amount, now));
    }
  }
  const { adjustments } = batch;
  for (let i = 0; i < adjustments.length; i++) applyAdjustment(table, adjustments[i]!, now);
  return { now, allowed, readings };
}

function applyAdjustment(table: CounterTable, adjustment: Adjustment, now: number): void {
  const { counter } = adjustment;
  const { algorithm } = counter;
  if (adjustment.type === 'reset') {
    table.set(counter, undefined, 0);
    return;
  }
  const state = load(table, counter, now);
  if (algorithm.type === 'slots') {
    const slots = state as SlotsState | undefined;
    if (adjustment.type === 'release') save(table, counter, slotsModel.release(slots, adjustment.leaseId));
    else if (adjustment.type === 'touch') save(table, counter, slotsModel.touch(slots, algorithm, adjustment.leaseId, now));
    return;
  }
  const model = amountModels[algorithm.type];
  if (adjustment.type === 'add') save(table, counter, model.add(state, algorithm, adjustment.amount, now));
  else if (adjustment.type === 'refund') save(table, counter, model.refund(state, algorithm, adjustment.amount, adjustment.at, now));
}
