import { compensation, type StoreBatch, type StoreResult, type CounterReading, type Counter } from '@tollgate/core';

const encoder = new TextEncoder();

/** Redis Cluster's key slot: CRC16 (XMODEM) of the key's hash tag, or of the whole key. */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of encoder.encode(key)) {
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
 * Runs a batch whose keys span several slots: one script per slot. Each script is atomic on its
 * own; if any refuses (or fails), the parts that were applied are taken back (refunded, slots
 * freed) before the decision returns. Until then — one round trip — other decisions can see those
 * charges and be refused by them; never admitted beyond a limit.
 *
 * One decision has one time: the first part runs on its node's clock and the others are stamped
 * with that time, so a lease's later refunds (made "at" the decision's time) find their charges on
 * every slot. That costs a second round trip, for multi-slot decisions only.
 */
export async function applyAcrossSlots(
  batch: StoreBatch,
  keyOf: (counter: Counter) => string,
  run: (batch: StoreBatch, now?: number) => Promise<StoreResult>,
): Promise<StoreResult> {
  const parts = splitBySlot(batch, keyOf);
  if (parts.length === 1) return run(batch);
  const first = await run(parts[0]!.batch);
  const { now } = first;
  // Once the first part refuses, the others only need reading: the decision writes nothing.
  const read = !first.allowed;
  const rest = await Promise.allSettled(parts.slice(1).map((part) => run(read ? { ...part.batch, dryRun: true } : part.batch, now)));
  const results: Array<StoreResult | undefined> = [first, ...rest.map((settled) => (settled.status === 'fulfilled' ? settled.value : undefined))];
  const failure = rest.find((settled): settled is PromiseRejectedResult => settled.status === 'rejected');
  const allowed = !failure && results.every((result) => result!.allowed);
  if (!allowed && !batch.dryRun) {
    // Take back every part that was applied, even when another part failed outright.
    const applied = parts.filter((_, index) => results[index]?.allowed && !(read && index > 0));
    await Promise.allSettled(applied.map((part) => run(compensation(part.batch, now), now)));
  }
  if (failure) throw failure.reason;
  const readings: CounterReading[] = new Array(batch.charges.length);
  parts.forEach((part, index) => {
    part.positions.forEach((position, k) => {
      readings[position] = results[index]!.readings[k]!;
    });
  });
  return { now, allowed, readings };
}
