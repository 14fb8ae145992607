import type { Adjustment, StoreBatch } from './contract.js';

/**
 * The batch that takes back what an applied batch charged at store time `at`: its charges and its
 * `add` adjustments (refunds, releases and touches are safe to have happened). Used when a batch's
 * answer came back after its caller was told it failed, and by stores that split a decision (Redis
 * Cluster) to undo the parts that passed when another refused.
 */
export function compensation(batch: StoreBatch, at: number): StoreBatch {
  const adjustments: Adjustment[] = [];
  for (const { counter, amount, leaseId } of batch.charges) {
    if (counter.algorithm.type === 'slots') adjustments.push({ type: 'release', counter, leaseId: leaseId! });
    else if (amount > 0) adjustments.push({ type: 'refund', counter, amount, at });
  }
  for (const adjustment of batch.adjustments) {
    if (adjustment.type === 'add') adjustments.push({ type: 'refund', counter: adjustment.counter, amount: adjustment.amount, at });
  }
  return { charges: [], dryRun: false, adjustments };
}
