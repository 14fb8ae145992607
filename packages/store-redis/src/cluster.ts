import { compensation, type StoreBatch, type StoreResult, type CounterReading, type Counter } from '@tollgate/core';

/** Redis Cluster's key slot: CRC16 (XMODEM) of the key's hash tag, or of the whole key. */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of new TextEncoder().encode(key)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** The part of a batch whose keys hash to one slot, and where its charges sit in the whole. */
interface SlotBatch {
  batch: StoreBatch;
  positions: number[];
}

/** Splits a batch by the slot of each counter's key (`keyOf` adds the store's prefix). */
export function splitBySlot(batch: StoreBatch, keyOf: (counter: Counter) => string): SlotBatch[] {
  const slots = new Map<number, { charges: StoreBatch['charges'][number][]; adjustments: StoreBatch['adjustments'][number][]; positions: number[] }>();
  const part = (counter: Counter) => {
    const slot = hashSlot(keyOf(counter));
    let entry = slots.get(slot);
    if (!entry) slots.set(slot, (entry = { charges: [], adjustments: [], positions: [] }));
    return entry;
  };
  batch.charges.forEach((charge, position) => {
    const entry = part(charge.counter);
    entry.charges.push(charge);
    entry.positions.push(position);
  });
  for (const adjustment of batch.adjustments) part(adjustment.counter).adjustments.push(adjustment);
  return [...slots.values()].map(({ charges, adjustments, positions }) => ({
    batch: { charges, adjustments, dryRun: batch.dryRun },
    positions,
  }));
}

/**
 * Runs a batch whose keys span several slots: one script per slot, in parallel. Each script is
 * atomic on its own; if any refuses, the parts that passed are taken back (refunded, slots freed)
 * before the decision returns. Until then — one round trip — other decisions can see those charges
 * and be refused by them; never admitted beyond a limit.
 */
export async function applyAcrossSlots(
  batch: StoreBatch,
  keyOf: (counter: Counter) => string,
  run: (batch: StoreBatch) => Promise<StoreResult>,
): Promise<StoreResult> {
  const parts = splitBySlot(batch, keyOf);
  if (parts.length === 1) return run(batch);
  const results = await Promise.all(parts.map((part) => run(part.batch)));
  const allowed = results.every((result) => result.allowed);
  if (!allowed && !batch.dryRun) {
    const passed = parts.filter((_, index) => results[index]!.allowed);
    await Promise.all(passed.map((part) => run(compensation(part.batch, results[parts.indexOf(part)]!.now))));
  }
  // Each node has its own clock: express every reading relative to the first node's.
  const now = results[0]!.now;
  const readings: CounterReading[] = new Array(batch.charges.length);
  parts.forEach((part, index) => {
    const shift = now - results[index]!.now;
    part.positions.forEach((position, k) => {
      const { used, resetAt, retryAt } = results[index]!.readings[k]!;
      readings[position] = { used, resetAt: resetAt + shift, retryAt: retryAt + shift };
    });
  });
  return { now, allowed, readings };
}
