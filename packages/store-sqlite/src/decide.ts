import { applyBatch, type Adjustment, type Charge, type Counter, type CounterReading, type StoreBatch, type StoreResult } from '@tollgate/core';
import type { IdentityRows } from './identities.js';
import type { LogAlgorithm } from './log.js';

const isLog = (counter: Counter): boolean => counter.algorithm.type === 'log';

/**
 * Applies a batch with core's engine, except for exact logs, which this store keeps in block rows
 * (see `LogCounter`) rather than as one state. Counters are independent, so the logs are read
 * first, the rest of the batch goes to the engine (as a dry run if a log refuses), and the logs
 * are charged only if the engine admits too: all or nothing, as in one engine call.
 */
export function decide(batch: StoreBatch, now: number, rows: IdentityRows): StoreResult {
  const { charges, adjustments } = batch;
  const logs = countLogs(charges) + countLogs(adjustments);
  if (logs === 0) return applyBatch(rows.table, batch, now);
  const readings: CounterReading[] = new Array(charges.length);
  let allowed = readLogs(charges, rows, now, readings);
  if (logs < charges.length + adjustments.length) allowed = decideOthers(batch, allowed, rows, now, readings) && allowed;
  if (allowed && !batch.dryRun) writeLogs(charges, adjustments, rows, now);
  return { now, allowed, readings };
}

function countLogs(changes: readonly (Charge | Adjustment)[]): number {
  let count = 0;
  for (let i = 0; i < changes.length; i++) if (isLog(changes[i]!.counter)) count++;
  return count;
}

/** Fills in the readings of the log charges, as they stand before the batch; whether all of them fit. */
function readLogs(charges: readonly Charge[], rows: IdentityRows, now: number, readings: CounterReading[]): boolean {
  let allowed = true;
  for (let i = 0; i < charges.length; i++) {
    const { counter, amount } = charges[i]!;
    if (!isLog(counter)) continue;
    const reading = rows.log(counter, now).reading(counter.algorithm as LogAlgorithm, amount > 1 ? amount : 1, now);
    readings[i] = reading;
    if (reading.retryAt > now) allowed = false;
  }
  return allowed;
}

/**
 * Runs the counters that are not logs through core's engine, as a dry run if a log refuses, and
 * fills in their readings; whether they all fit.
 */
function decideOthers(batch: StoreBatch, logsAllow: boolean, rows: IdentityRows, now: number, readings: CounterReading[]): boolean {
  const charges: Charge[] = [];
  const positions: number[] = [];
  for (let i = 0; i < batch.charges.length; i++) {
    if (isLog(batch.charges[i]!.counter)) continue;
    charges.push(batch.charges[i]!);
    positions.push(i);
  }
  const adjustments = batch.adjustments.filter((adjustment) => !isLog(adjustment.counter));
  const result = applyBatch(rows.table, { charges, adjustments, dryRun: batch.dryRun || !logsAllow }, now);
  for (let j = 0; j < positions.length; j++) readings[positions[j]!] = result.readings[j]!;
  return result.allowed;
}

/** Charges the logs, then applies their adjustments in order. */
function writeLogs(charges: readonly Charge[], adjustments: readonly Adjustment[], rows: IdentityRows, now: number): void {
  for (const { counter, amount } of charges) {
    if (isLog(counter) && amount > 0) rows.log(counter, now).add(amount, now);
  }
  for (const adjustment of adjustments) {
    if (!isLog(adjustment.counter)) continue;
    const log = rows.log(adjustment.counter, now);
    if (adjustment.type === 'add') log.add(adjustment.amount, now);
    else if (adjustment.type === 'refund') log.refund(adjustment.amount, adjustment.at);
    else if (adjustment.type === 'reset') log.reset();
  }
}
